import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startRtml, writtenAfter, type CrashableRun } from './support/crashable.ts';
import { eventLines, prng } from './support/generate.ts';
import { produceKeyed, startMockKafka, type MockKafka } from './support/kafka.ts';
import { owned, until } from './support/scaleOut.ts';

/**
 * Exactly-once Kafka outputs (`rtml run --exactly-once`) against librdkafka's mock cluster acting as
 * Kafka's transaction coordinator (test/support/kafka-mock.c): a run reading a Kafka topic and
 * writing two Kafka topics is killed with SIGKILL at many points — mid-transaction, mid-checkpoint,
 * with its checkpoint pending and its transaction not committed, and with its transaction committed
 * but its checkpoint not marked so — and restarted until it completes. Readers of committed data
 * (kcat with isolation.level=read_committed, and rtml's own Kafka source, read_committed by default)
 * then see exactly the results of a run that was never interrupted; a read_uncommitted reader sees
 * the aborted duplicates the crashes left. Scaled out (--scale-out), the same holds when one of
 * three workers is killed, and a worker paused past its session timeout cannot write once it resumes.
 */

const SINKS = ['scored', 'out'];

// 'scored' passes every event on, padded: a sink hands its writes to the producer once it buffers
// 1 MiB, so a crash between checkpoints leaves records in the open transaction.
const TOPOLOGY = `
import { map } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('eos', ({ source, sink }) => {
  const keyed = source('events', { time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'));
  return [
    keyed.pipe(map((e) => ({ ...e, note: 'x'.repeat(300) })), sink('scored')),
    keyed.pipe(window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')),
  ];
});
`;

const PASS = `import { defineTopology } from 'rtml';
export default defineTopology('pass', ({ source, sink }) => source('events', { time: (e: { ts?: number; window_start?: number }) => e.ts ?? e.window_start! }).pipe(sink('out')));
`;

/** Scale-out: a live run's windows of a card; one event per partition far past them closes them all. */
const SCALE = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('scale', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;
const SCALE_EVENTS = eventLines(6000, { seed: 11, keys: 60 });
const FLUSH = JSON.stringify({ card_id: 'flush', merchant_id: 'm0', amount: 0, ts: 1_800_000_000_000 });
const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));

let dir: string;
let kafka: MockKafka;
/** The scale-out topology's results over SCALE_EVENTS in one process (sorted). */
let scaleReference: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-eos-'));
  writeFileSync(join(dir, 'eos.ts'), TOPOLOGY);
  writeFileSync(join(dir, 'pass.ts'), PASS);
  writeFileSync(join(dir, 'scale.ts'), SCALE);
  writeFileSync(join(dir, 'scale-events.jsonl'), SCALE_EVENTS.join('\n') + '\n');
  execFileSync(process.execPath, [RTML, 'run', join(dir, 'scale.ts'), '--no-progress', '--source', `events=file:${join(dir, 'scale-events.jsonl')}`, '--sink', `out=file:${join(dir, 'scale-reference.jsonl')}`], { stdio: 'pipe' });
  scaleReference = lines(join(dir, 'scale-reference.jsonl'));
  kafka = await startMockKafka({ transactions: true });
  await kafka.createTopic('events', 3);
  for (const sink of SINKS) await kafka.createTopic(sink, 3);
  await kafka.createTopic('rtml-checkpoints', 1);
  produceKeyed(kafka, 'events', eventLines(60_000, { seed: 13, keys: 100 }));
});

after(async () => {
  await kafka?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Values of `topic` read to its end with kcat (JSON lines, sorted). */
function kcat(topic: string, isolation: 'read_committed' | 'read_uncommitted'): string[] {
  const read = execFileSync('kcat', ['-C', '-e', '-q', '-b', kafka.bootstrap, '-t', topic, '-X', `isolation.level=${isolation}`, '-f', '%s\n'], { maxBuffer: 1 << 30 }).toString();
  return read.split('\n').filter((l) => l !== '').sort();
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort();
}

/** Resolves once `text` occurs in the child's stderr more often than now (false if it exits first). */
async function next(child: CrashableRun, text: string): Promise<boolean> {
  const count = () => child.stderr().split(text).length;
  const before = count();
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!exited) {
    if (count() > before) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

const KILL_POINTS = ['mid-transaction', 'mid-checkpoint', 'checkpoint pending', 'transactions committed, checkpoint not marked'] as const;
type KillPoint = (typeof KILL_POINTS)[number];

describe('exactly-once Kafka sinks', () => {
  it('killed with SIGKILL mid-transaction, mid-checkpoint, before and after the commit, read_committed readers (kcat, rtml) see exactly the results of an uninterrupted run', async () => {
    const cleanDir = join(dir, 'clean');
    const clean = startRtml(['run', join(dir, 'eos.ts'), '--source', `events=kafka://${kafka.bootstrap}/events?group=clean`, ...SINKS.flatMap((s) => ['--sink', `${s}=file:${join(cleanDir, `${s}.jsonl`)}`]), '--no-progress']);
    assert.equal((await clean.exited).code, 0, clean.stderr());
    const expected = Object.fromEntries(SINKS.map((s) => [s, lines(join(cleanDir, `${s}.jsonl`))]));
    assert.ok(expected.scored!.length === 60_000 && expected.out!.length > 1000);

    const checkpointDir = join(dir, 'checkpoints');
    const args = [
      'run', join(dir, 'eos.ts'), '--source', `events=kafka://${kafka.bootstrap}/events?group=eos`, ...SINKS.flatMap((s) => ['--sink', `${s}=kafka://${kafka.bootstrap}/${s}`]),
      '--exactly-once', '--checkpoint-dir', checkpointDir, '--checkpoint-every', '4000', '--checkpoint-interval', '1h', '--batch-size', '500', '--no-progress',
    ];
    const rand = prng(17);
    const kills: KillPoint[] = [];
    let finished: CrashableRun | undefined;
    while (!finished) {
      const point: KillPoint | undefined = kills.length < 2 * KILL_POINTS.length ? KILL_POINTS[kills.length % KILL_POINTS.length] : undefined;
      const paused = point !== undefined && point !== 'mid-transaction';
      const child = startRtml(args, paused ? { RTML_TEST_CHECKPOINT_PAUSE_MS: '1500' } : {});
      if (point !== undefined) {
        // Each kill comes after a checkpoint this run took, so every run makes progress.
        let reached = await writtenAfter(join(checkpointDir, 'eos.checkpoint'), Date.now(), child);
        if (reached && point === 'mid-transaction') reached = await new Promise((r) => setTimeout(() => r(true), 150 + Math.floor(rand() * 400)));
        else if (reached && point === 'mid-checkpoint') reached = await next(child, 'checkpoint write paused half-done');
        else if (reached && point === 'checkpoint pending') reached = await next(child, 'pending, its transactions not committed yet');
        else if (reached) reached = await next(child, 'transactions committed, checkpoint not marked committed yet');
        child.kill();
        if (reached) kills.push(point);
      }
      const { code, signal } = await child.exited;
      if (code === 0) finished = child;
      else assert.equal(signal, 'SIGKILL', child.stderr());
    }
    assert.equal(kills.length, 2 * KILL_POINTS.length, `kills: ${kills.join(', ')}`);
    assert.match(finished.stderr(), /resumed from a checkpoint/);

    for (const sink of SINKS) {
      assert.deepEqual(kcat(sink, 'read_committed'), expected[sink], `kcat read_committed: ${sink} differs from the uninterrupted run`);
      // rtml's own Kafka source reads committed data by default.
      const read = join(dir, `read-${sink}.jsonl`);
      const reader = startRtml(['run', join(dir, 'pass.ts'), '--source', `events=kafka://${kafka.bootstrap}/${sink}?group=read-${sink}`, '--sink', `out=file:${read}`, '--no-progress']);
      assert.equal((await reader.exited).code, 0, reader.stderr());
      assert.deepEqual(lines(read), expected[sink], `rtml's kafka source: ${sink} differs from the uninterrupted run`);
    }
    // The crashes did leave records behind, in aborted transactions.
    assert.ok(kcat('scored', 'read_uncommitted').length > expected.scored!.length, 'read_uncommitted sees aborted duplicates');
  });
});

interface Worker {
  stderr(): string;
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
}

/** An exactly-once scale-out worker of group `group` (a live run), as a child process. */
function worker(group: string, checkpointing: string[]): Worker {
  const args = [
    RTML, 'run', join(dir, 'scale.ts'), '--no-progress', '--source', `events=kafka://${kafka.bootstrap}/events-${group}?group=${group}`,
    '--sink', `out=kafka://${kafka.bootstrap}/out-${group}`, '--scale-out', '--follow', '--exactly-once', '--checkpoint-dir', join(dir, `ckpt-${group}`), '--batch-size', '50', ...checkpointing,
  ];
  const child = spawn(process.execPath, args);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { stderr: () => stderr, exited, signal: (signal) => child.kill(signal) };
}

/** The second half of the input, then one event per partition that closes every window. */
function produceRest(group: string): void {
  produceKeyed(kafka, `events-${group}`, SCALE_EVENTS.slice(SCALE_EVENTS.length / 2));
  for (let p = 0; p < 3; p++) execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', `events-${group}`, '-p', String(p), '-K:'], { input: `flush:${FLUSH}\n` });
}

async function topics(group: string): Promise<void> {
  await kafka.createTopic(`events-${group}`, 3);
  await kafka.createTopic(`out-${group}`, 3);
}

describe('exactly-once Kafka sinks, scaled out', () => {
  it('three workers, one killed with SIGKILL mid-stream: the others take its tasks over and read_committed readers see exactly the one-process results', async () => {
    const group = 'eos-kill';
    await topics(group);
    // Committed every 300 events, and each second, so the tail of the input is committed too.
    const checkpointing = ['--checkpoint-every', '300', '--checkpoint-interval', '1s'];
    const workers = [worker(group, checkpointing), worker(group, checkpointing), worker(group, checkpointing)];
    const [a, b, c] = workers as [Worker, Worker, Worker];
    try {
      await until('three workers to share the partitions', () => workers.every((w) => owned(w).size === 1), 90_000, workers);
      produceKeyed(kafka, `events-${group}`, SCALE_EVENTS.slice(0, SCALE_EVENTS.length / 2));
      const [mine] = [...owned(a)];
      const checkpoints = join(dir, `ckpt-${group}`, `partition-${mine}`);
      await until("a checkpoint of a's task", () => existsSync(checkpoints) && readdirSync(checkpoints).some((f) => f.endsWith('.checkpoint')), 90_000, workers);
      // Killed while it writes on: its open transaction is aborted by the task's next owner.
      await new Promise((r) => setTimeout(r, 300));
      a.signal('SIGKILL');
      produceRest(group);
      await until('b and c to take over every partition', () => owned(b).size + owned(c).size === 3, 90_000, workers);
      await until('every result', () => kcat(`out-${group}`, 'read_committed').length >= scaleReference.length, 90_000, workers);
      assert.match(b.stderr() + c.stderr(), new RegExp(`partition ${mine}: task starts from its checkpoint`));
    } finally {
      for (const w of [b, c]) w.signal('SIGTERM');
    }
    assert.deepEqual(await Promise.all([b.exited, c.exited]), [0, 0], b.stderr() + c.stderr());
    assert.deepEqual(kcat(`out-${group}`, 'read_committed'), scaleReference);
  });

  it('a worker paused (SIGSTOP) past its session timeout is fenced: once resumed, nothing it writes becomes visible', async () => {
    const group = 'eos-stop';
    await topics(group);
    // a commits only when stopped: when paused, it has written into an open transaction.
    const a = worker(group, ['--checkpoint-interval', '1h']);
    const workers = [a];
    let b: Worker | undefined;
    try {
      await until('a to own every partition', () => owned(a).size === 3, 90_000, workers);
      produceKeyed(kafka, `events-${group}`, SCALE_EVENTS.slice(0, SCALE_EVENTS.length / 2));
      await until('a to write into its open transactions', () => kcat(`out-${group}`, 'read_uncommitted').length > 0, 90_000, workers);
      a.signal('SIGSTOP');
      b = worker(group, ['--checkpoint-every', '300', '--checkpoint-interval', '500ms']);
      workers.push(b);
      // After the session timeout the group gives b every task; each fences a's transactional producer.
      await until('b to own every partition', () => owned(b!).size === 3, 90_000, workers);
      await until('b to start every task', () => (b!.stderr().match(/task starts/g) ?? []).length === 3, 90_000, workers);
      produceRest(group);
      await until('every result', () => kcat(`out-${group}`, 'read_committed').length >= scaleReference.length, 90_000, workers);
      a.signal('SIGCONT');
      // a reads on and writes what it read while paused, through its fenced producers, until it hears its tasks are lost.
      await until('a to stop its tasks', () => /partitions lost|writes refused/.test(a.stderr()), 90_000, workers);
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      a.signal('SIGCONT');
      for (const w of workers) w.signal('SIGTERM');
    }
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0], workers.map((w) => w.stderr()).join('\n'));
    assert.deepEqual(kcat(`out-${group}`, 'read_committed'), scaleReference);
    assert.ok(kcat(`out-${group}`, 'read_uncommitted').length > scaleReference.length, "a's aborted writes are in the topic, not visible to read_committed readers");
  });
});
