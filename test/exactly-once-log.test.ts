import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventLog } from '../connectors/log/eventLog.ts';
import { startRtml, writtenAfter, type CrashableRun } from './support/crashable.ts';
import { eventLines, keyOf, prng } from './support/generate.ts';

/**
 * Exactly-once output to the embedded log: `rtml run` writing its results to log topics, killed with
 * SIGKILL (before its first checkpoint, at random points, mid-checkpoint) and restarted until it
 * completes. A resumed run cuts each topic back to where the checkpoint left it, so the topics end
 * byte for byte as those of a run that was never interrupted.
 */

const SINKS = ['scored', 'out', 'late'];

// 'scored' passes every event on, padded: a sink writes once it buffers 1 MiB, so it writes many
// times between two checkpoints, and a crash leaves output the checkpoint does not cover.
const TOPOLOGY = `
import { map } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('log-once', ({ source, sink }) => {
  const keyed = source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'));
  return [
    keyed.pipe(map((e) => ({ ...e, note: 'x'.repeat(300) })), sink('scored')),
    keyed.pipe(window(tumbling('5m'), { lateness: '10s', late: 'late' }), aggregate({ n: count(), total: sum('amount') }), sink('out')),
  ];
});
`;

let dir: string;
let events: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-log-once-'));
  writeFileSync(join(dir, 'topology.ts'), TOPOLOGY);
  events = join(dir, 'events');
  const log = EventLog.open(events, { create: { partitions: 3 } });
  for (const line of eventLines(120_000, { seed: 21, keys: 50 })) log.append(keyOf(line), 0, 0, Buffer.from(line));
  log.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

function args(outDir: string, checkpointing: string[]): string[] {
  return [
    'run', join(dir, 'topology.ts'), '--source', `events=log:${events}`,
    ...SINKS.flatMap((s) => ['--sink', `${s}=log:${join(outDir, s)}?partitions=3`]),
    '--batch-size', '500', '--no-progress', '--checkpoint-dir', join(outDir, 'checkpoints'), ...checkpointing,
  ];
}

/** Each sink topic's segment files, by partition: the records' bytes (offsets, keys, times, payloads, CRCs). */
function topics(outDir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const sink of SINKS) {
    out[sink] = [0, 1, 2].map((p) => {
      const partition = join(outDir, sink, `partition-${p}`);
      return readdirSync(partition).sort().map((f) => readFileSync(join(partition, f)).toString('base64')).join('|');
    });
  }
  return out;
}

/** Bytes in a sink topic's segments so far. */
function written(outDir: string, sink: string): number {
  let bytes = 0;
  for (let p = 0; p < 3; p++) {
    const partition = join(outDir, sink, `partition-${p}`);
    if (existsSync(partition)) for (const f of readdirSync(partition)) bytes += statSync(join(partition, f)).size;
  }
  return bytes;
}

async function waitUntil(ready: () => boolean, child: CrashableRun): Promise<boolean> {
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!exited) {
    if (ready()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('exactly-once log sinks', () => {
  it('killed with SIGKILL before its first checkpoint, at random points and mid-checkpoint, a run resumes and its log topics end byte for byte as an uninterrupted run’s', async () => {
    const clean = join(dir, 'clean');
    const cleanRun = startRtml(args(clean, []));
    assert.equal((await cleanRun.exited).code, 0, cleanRun.stderr());
    const expected = topics(clean);
    assert.ok(SINKS.every((s) => expected[s]!.every((p) => p.length > 0)), 'every partition of every topic has output');

    const crashed = join(dir, 'crashed');
    const checkpoint = join(crashed, 'checkpoints', 'log-once.checkpoint');
    const rand = prng(3);
    const kills: string[] = [];
    let finished: CrashableRun | undefined;
    while (!finished) {
      const n = kills.length;
      const point = n === 0 ? 'before the first checkpoint' : n > 5 ? undefined : n % 2 === 0 ? 'mid-checkpoint' : 'random';
      const checkpointing = point === 'before the first checkpoint' ? ['--checkpoint-interval', '1h'] : ['--checkpoint-every', '12000', '--checkpoint-interval', '1h'];
      const child = startRtml(args(crashed, checkpointing), point === 'mid-checkpoint' ? { RTML_TEST_CHECKPOINT_PAUSE_MS: '2000' } : {});
      if (point !== undefined) {
        const reached =
          point === 'before the first checkpoint'
            ? await waitUntil(() => written(crashed, 'scored') > 1 << 20, child)
            : point === 'mid-checkpoint'
              ? (await writtenAfter(checkpoint, Date.now(), child)) && (await child.waitFor('checkpoint write paused half-done'))
              : (await writtenAfter(checkpoint, Date.now(), child)) && (await new Promise((r) => setTimeout(() => r(true), Math.floor(rand() * 200))));
        child.kill();
        if (reached) kills.push(point);
      }
      const { code, signal } = await child.exited;
      if (code === 0) finished = child;
      else assert.equal(signal, 'SIGKILL', child.stderr());
    }
    assert.deepEqual(new Set(kills), new Set(['before the first checkpoint', 'random', 'mid-checkpoint']), `kills: ${kills.join(', ')}`);
    assert.match(finished.stderr(), /resumed from a checkpoint/);
    const got = topics(crashed);
    for (const sink of SINKS) assert.deepEqual(got[sink], expected[sink], `log sink ${sink} differs from the uninterrupted run`);
  });
});
