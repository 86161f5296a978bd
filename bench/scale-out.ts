/**
 * Scale-out on Kafka: the same bounded keyed 1-minute count + sum (bench/tumbling.ts) over a
 * 6-partition topic of librdkafka's mock cluster, run as one process without --scale-out, as one
 * --scale-out worker, and as three workers of one group at once. Prints one line: events/s of each
 * (wall clock from start to the last worker's exit, start-up included, as a deployment sees it) and
 * the ratios to the one-process run. This machine has 2 cores, shared with the mock cluster: three
 * workers measure the overhead of tasks and rebalancing here, not the speed-up of three machines.
 * (The mock cluster keeps about 5 MB per partition: more events would be truncated before they are read.)
 *
 * Run: node --import tsx bench/scale-out.ts [--events 150000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startMockKafka } from '../test/support/kafka.ts';
import { NODE_FLAGS, ROOT, RTML, writeEvents } from './support.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '150000' } } });
const N = Number(values.events);
const PARTITIONS = 6;
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-scale-'));
const input = join(dir, 'events.jsonl');
writeEvents(input, N);

/**
 * Runs `rtml run` processes at once, checking every event was read; resolves with the wall-clock ms
 * until the last exits and the longest engine time any of them reports (its tasks' run time).
 */
function runAll(argvs: string[][]): Promise<{ wall: number; engine: number }> {
  const started = performance.now();
  return Promise.all(
    argvs.map(
      (argv) =>
        new Promise<{ events: number; seconds: number }>((resolve, reject) => {
          const child = spawn(process.execPath, [...NODE_FLAGS, RTML, 'run', join(ROOT, 'bench', 'tumbling.ts'), '--no-progress', ...argv], { cwd: ROOT });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('exit', (code) => {
            const m = /events in ([\d,]+), processed.*elapsed ([\d.]+)s/.exec(stderr); // the summary line, not a task's
            if (code !== 0 || !m) reject(new Error(`rtml run ${argv.join(' ')} failed: ${stderr.slice(-800)}`));
            else resolve({ events: Number(m[1]!.replace(/,/g, '')), seconds: Number(m[2]) });
          });
        }),
    ),
  ).then((runs) => {
    const total = runs.reduce((sum, r) => sum + r.events, 0);
    if (total < N) throw new Error(`the workers read ${total} of ${N} events`);
    return { wall: performance.now() - started, engine: Math.max(...runs.map((r) => r.seconds)) * 1000 };
  });
}

const kafka = await startMockKafka();
try {
  await kafka.createTopic('events', PARTITIONS);
  // Fill the topic (keyed by card, so partitions hold whole keys) with rtml's own Kafka sink.
  const fill = spawn(process.execPath, [...NODE_FLAGS, RTML, 'run', join(ROOT, 'bench', 'passthrough.ts'), '--no-progress', '--source', `events=file:${input}`, '--sink', `out=kafka://${kafka.bootstrap}/events`], { cwd: ROOT, stdio: 'ignore' });
  await new Promise((resolve) => fill.on('exit', resolve));
  const source = (group: string) => ['--source', `events=kafka://${kafka.bootstrap}/events?group=${group}`, '--sink', 'out=null:'];
  const worker = (group: string) => [...source(group), '--scale-out', '--checkpoint-dir', join(dir, `ckpt-${group}`)];
  const plain = await runAll([source('plain')]);
  const one = await runAll([worker('one')]);
  const three = await runAll([worker('three'), worker('three'), worker('three')]);
  const perSecond = (ms: number) => Math.round((N * 1000) / ms).toLocaleString('en-US');
  const figure = (name: string, r: { wall: number; engine: number }) =>
    `${name} ${perSecond(r.engine)} ev/s in the engine (${(plain.engine / r.engine).toFixed(2)}x), ${perSecond(r.wall)} ev/s wall clock with start-up and group joins (${(plain.wall / r.wall).toFixed(2)}x)`;
  process.stdout.write(`scale-out (${N} events, ${PARTITIONS} partitions, mock Kafka, 2 cores): ${[figure('one process', plain), figure('1 worker', one), figure('3 workers', three)].join(' | ')}\n`);
} finally {
  await kafka.stop();
  rmSync(dir, { recursive: true, force: true });
}
