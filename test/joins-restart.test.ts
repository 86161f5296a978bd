import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fileSink } from '../connectors/file/sink.ts';
import { EventLog } from '../connectors/log/eventLog.ts';
import type { SourceConnector } from '../engine/io.ts';
import { runTopology, type RunStats } from '../engine/runtime.ts';
import { startRtml, writtenAfter, type CrashableRun } from './support/crashable.ts';
import { prng } from './support/generate.ts';
import { ALL_JOINS_SINKS, allJoins, eventCount, randomInput, RESTART_OUT_OF_ORDER, type TwoSides } from './support/joins.ts';
import { memorySource } from './support/memory.ts';

/**
 * Restarts of a topology with every join (test/support/joins.ts, allJoins): runs stopped part-way
 * and resumed from their checkpoint must write exactly what one uninterrupted run writes, to every
 * result and late sink — the joins' buffers are in the checkpoint, and nothing is emitted twice or lost.
 */

const input = (seed: number, events: number, keys: number): TwoSides =>
  randomInput(seed, { keys, step: 3, events: [events, events + events / 4], outOfOrder: RESTART_OUT_OF_ORDER, beyond: 0.1, reach: 25 });

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-joins-restart-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function files(outDir: string): Record<string, string> {
  return Object.fromEntries(ALL_JOINS_SINKS.map((s) => [s, readFileSync(join(outDir, `${s}.jsonl`), 'utf8')]));
}

/** Every result sink has results and some late sinks have late events: the input exercises the joins. */
function assertExercised(outputs: Record<string, string>): void {
  for (const sink of ALL_JOINS_SINKS.filter((s) => !s.startsWith('late-'))) assert.ok(outputs[sink]!.length > 0, `${sink} has results`);
  assert.ok(ALL_JOINS_SINKS.filter((s) => s.startsWith('late-') && outputs[s]!.length > 0).length >= 5, 'late events on most joins');
}

/** What a run does once its sources have handed out `budget` records between them. */
type Interruption = { budget: number; how: 'crash' | 'stop' };

/** The memory sources of `events`, interrupted as asked: a read fails (a crash), or the run is told to stop (it checkpoints and returns). */
function sources(events: TwoSides, interruption: Interruption | undefined, stop: AbortController): { left: SourceConnector; right: SourceConnector } {
  let left = interruption?.budget ?? Infinity;
  const wrap = (connector: SourceConnector): SourceConnector => ({
    uri: connector.uri,
    async open(options) {
      const reader = await connector.open(options);
      return {
        ...reader,
        partitions: reader.partitions,
        progress: () => reader.progress(),
        close: () => reader.close(),
        async read(partition, max) {
          if (left <= 0) {
            if (interruption!.how === 'crash') throw new Error('crashed on purpose');
            stop.abort();
          }
          const batch = await reader.read(partition, Math.max(1, Math.min(max, left)));
          left -= batch?.length ?? 0;
          return batch;
        },
      };
    },
  });
  return { left: wrap(memorySource(events.left)), right: wrap(memorySource(events.right)) };
}

async function runInProcess(events: TwoSides, outDir: string, options: { interruption?: Interruption; checkpointDir?: string; batchSize: number }): Promise<RunStats> {
  const stop = new AbortController();
  return runTopology(allJoins, {
    sources: sources(events, options.interruption, stop),
    sinks: Object.fromEntries([...ALL_JOINS_SINKS, 'dlq'].map((s) => [s, fileSink(join(outDir, `${s}.jsonl`))])),
    batchSize: options.batchSize,
    signal: stop.signal,
    ...(options.checkpointDir ? { checkpoint: { dir: options.checkpointDir, everyEvents: 97, intervalMs: 3_600_000 } } : {}),
    warn: () => {},
  });
}

describe('joins restarted from checkpoints', () => {
  for (const how of ['crash', 'stop'] as const) {
    it(`${how === 'crash' ? 'crashed (a source read fails)' : 'stopped'} at several points and resumed, every join writes what an uninterrupted run writes`, async () => {
      for (const seed of [1, 2]) {
        const events = input(seed, 300, 6);
        const total = eventCount(events);
        const clean = join(dir, `${how}-${seed}-clean`);
        await runInProcess(events, clean, { batchSize: 1000 });
        const expected = files(clean);
        assertExercised(expected);

        const outDir = join(dir, `${how}-${seed}-interrupted`);
        const checkpointDir = join(outDir, 'checkpoints');
        const rand = prng(seed);
        let interruptions = 0;
        let stats: RunStats | undefined;
        while (stats === undefined) {
          const interruption = { budget: 150 + Math.floor(rand() * 250), how };
          if (how === 'crash') {
            const running = runInProcess(events, outDir, { interruption, checkpointDir, batchSize: 5 });
            const finished = await running.then(
              (s) => s,
              (err: unknown) => {
                assert.match(String(err), /crashed on purpose/);
                return undefined;
              },
            );
            if (finished === undefined) interruptions++;
            else stats = finished;
          } else {
            const s = await runInProcess(events, outDir, { interruption, checkpointDir, batchSize: 5 });
            if (s.in < total) {
              interruptions++;
              assert.ok(s.checkpoints >= 1, 'a stopped run checkpoints');
            } else stats = s;
          }
        }
        assert.ok(interruptions >= 3, `interrupted ${interruptions} times`);
        assert.equal(stats.resumed, true);
        assert.equal(stats.in, total, 'the counters continue from the checkpoint');
        assert.equal(stats.in, stats.processed + stats.late);
        const got = files(outDir);
        for (const sink of ALL_JOINS_SINKS) assert.equal(got[sink], expected[sink], `seed ${seed}: ${sink} differs from the uninterrupted run`);
        assert.deepEqual(readdirSync(checkpointDir), [], 'the completed run removed its checkpoint');
      }
    });
  }
});

// ---- kill -9: rtml run over the embedded log, killed at random points and restarted ------------

const SUPPORT = fileURLToPath(new URL('./support/joins.ts', import.meta.url));

describe('joins and kill -9', () => {
  it('rtml run killed with SIGKILL at random points (some mid-checkpoint) and restarted writes what an uninterrupted run writes', async () => {
    const events = input(7, 6000, 12);
    const logs = { left: join(dir, 'log-left'), right: join(dir, 'log-right') };
    for (const side of ['left', 'right'] as const) {
      const log = EventLog.open(logs[side], { create: { partitions: 2 } });
      events[side].forEach((partition, p) => {
        for (const e of partition) log.append(e.k, 0, 0, Buffer.from(JSON.stringify(e)), p);
      });
      log.close();
    }
    const topologyFile = join(dir, 'all-joins.ts');
    writeFileSync(topologyFile, `import { allJoins } from ${JSON.stringify(SUPPORT)};\nexport default allJoins;\n`);
    const args = (outDir: string, checkpoint: boolean) => [
      'run', topologyFile, '--source', `left=log:${logs.left}`, '--source', `right=log:${logs.right}`,
      ...[...ALL_JOINS_SINKS, 'dlq'].flatMap((s) => ['--sink', `${s}=file:${join(outDir, `${s}.jsonl`)}`]),
      '--batch-size', '200', '--no-progress',
      ...(checkpoint ? ['--checkpoint-dir', join(outDir, 'checkpoints'), '--checkpoint-every', '1500', '--checkpoint-interval', '100ms'] : []),
    ];

    const clean = join(dir, 'cli-clean');
    const cleanRun = startRtml(args(clean, false));
    assert.equal((await cleanRun.exited).code, 0, cleanRun.stderr());
    const expected = files(clean);
    assertExercised(expected);
    // The same input from memory partitions, in process: the same outputs (the log changes nothing).
    const inProcess = join(dir, 'cli-in-process');
    await runInProcess(events, inProcess, { batchSize: 333 });
    assert.deepEqual(files(inProcess), expected);

    const crashed = join(dir, 'cli-crashed');
    const rand = prng(3);
    const kills: string[] = [];
    let finished: CrashableRun | undefined;
    while (!finished) {
      const kill = kills.length < 5;
      const midCheckpoint = kill && kills.length % 2 === 0;
      const child = startRtml(args(crashed, true), midCheckpoint ? { RTML_TEST_CHECKPOINT_PAUSE_MS: '1000' } : {});
      let reached = false;
      if (kill) {
        // After the run's first checkpoint (so runs make progress), at a random time or in the middle of writing one.
        reached = midCheckpoint
          ? await child.waitFor('checkpoint write paused half-done')
          : (await writtenAfter(join(crashed, 'checkpoints', 'all-joins.checkpoint'), Date.now(), child)) &&
            (await new Promise((r) => setTimeout(() => r(true), Math.floor(rand() * 150))));
        child.kill();
      }
      const { code, signal } = await child.exited;
      if (code === 0) finished = child;
      else {
        assert.equal(signal, 'SIGKILL', child.stderr());
        if (reached) kills.push(midCheckpoint ? 'mid-checkpoint' : 'random');
      }
    }
    assert.ok(kills.length >= 3 && kills.includes('mid-checkpoint'), `kills: ${kills.join(', ')}`);
    assert.match(finished.stderr(), /resumed from a checkpoint/);
    const got = files(crashed);
    for (const sink of ALL_JOINS_SINKS) assert.equal(got[sink], expected[sink], `${sink} differs from the uninterrupted run`);
    assert.deepEqual(existsSync(join(crashed, 'checkpoints')) ? readdirSync(join(crashed, 'checkpoints')) : [], []);
  });
});
