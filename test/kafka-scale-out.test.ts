import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventLines } from './support/generate.ts';
import { consumeTopic, produceKeyed, startMockKafka, type MockKafka } from './support/kafka.ts';
import { owned, until } from './support/scaleOut.ts';

/**
 * Scale-out on Kafka (`rtml run --scale-out`): workers in one consumer group share a 3-partition
 * topic; each partition is a task whose state is checkpointed in a shared directory and handed over
 * when the group moves the partition. Real peers: librdkafka's mock cluster (group coordinator
 * included), kcat as the independent producer and consumer, rtml workers as child processes.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RTML = join(ROOT, 'bin', 'rtml.mjs');
const PARTITIONS = 3;
const TOPOLOGY = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('scale', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;
/**
 * Aggregates by merchant while the input is partitioned by card: without repartition() each task
 * would count only its own partition's share of a merchant. outOfOrder covers the whole input, as
 * the exchange interleaves upstream tasks that may run far apart in event time.
 */
const BY_MERCHANT = `
import { aggregate, count, defineTopology, repartition, sum, tumbling, window } from 'rtml';
export default defineTopology('merchants', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '1h' }).pipe(repartition('merchant_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;
/** Two sources merged: payments and refunds of the same cards, on co-partitioned topics. */
const TWO_SOURCES = `
import { merge } from 'rxjs';
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('two', ({ source, sink }) =>
  merge(source('payments', { time: 'ts', outOfOrder: '10m' }), source('refunds', { time: 'ts', outOfOrder: '10m' }))
    .pipe(keyBy('card_id'), window(tumbling('10s')), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;
/** An interval join of payments and refunds of the same card: the pairs meet in the task of their partition. */
const JOINED = `
import { map } from 'rxjs';
import { defineTopology, intervalJoin, keyBy } from 'rtml';
export default defineTopology('joined', ({ source, sink }) => {
  const refunds = source('refunds', { time: 'ts', outOfOrder: '10m' }).pipe(keyBy('card_id'));
  return source('payments', { time: 'ts', outOfOrder: '10m' }).pipe(
    keyBy('card_id'),
    intervalJoin(refunds, { between: ['-30s', '30s'], type: 'left' }),
    map((r) => ({ card: r.key, payment: r.left.ts, refund: r.right === null ? null : r.right.ts })),
    sink('out'));
});
`;
// Out of order by far less than outOfOrder: no event is late however the partitions interleave.
const EVENTS = eventLines(6000, { seed: 11, keys: 60 });
/** One event per partition far past every window: in a live run, each task's watermark then closes them all. */
const FLUSH_TS = 1_800_000_000_000;

let dir: string;
let kafka: MockKafka;
let topo: string;
let reference: string[];
let merchantsTopo: string;
let merchantsReference: string[];
let twoTopo: string;

interface Worker {
  stderr(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): void;
}

function worker(args: string[], topology = topo): Worker {
  const child = spawn(process.execPath, [RTML, 'run', topology, '--no-progress', ...args], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { stderr: () => stderr, exited, stop: (signal = 'SIGTERM') => child.kill(signal) };
}

function workerArgs(group: string, out: string, checkpoints: string, checkpointing = ['--checkpoint-every', '200', '--checkpoint-interval', '300ms']): string[] {
  return [
    '--source', `events=kafka://${kafka.bootstrap}/events-${group}?group=${group}`,
    '--sink', `out=kafka://${kafka.bootstrap}/${out}`,
    '--scale-out', '--follow', '--checkpoint-dir', checkpoints, ...checkpointing,
  ];
}

function flushAllPartitions(topic: string): void {
  // One per merchant too, so that behind a repartition('merchant_id') every exchange partition gets one.
  const flush = Array.from({ length: 20 }, (_, m) => `flush:${JSON.stringify({ card_id: 'flush', merchant_id: `m${m}`, amount: 0, ts: FLUSH_TS })}`).join('\n');
  for (let p = 0; p < PARTITIONS; p++) {
    execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', topic, '-p', String(p), '-K:'], { input: `${flush}\n` });
  }
}

/**
 * Distinct results with totals in cents: behind repartition() a key's events reach its task in the
 * exchange's arrival order, not the one-process merge order, so a float sum may differ in its last bits.
 */
function cents(lines: readonly string[]): string[] {
  return [...new Set(lines)]
    .map((l) => {
      const r = JSON.parse(l) as { total: number };
      return JSON.stringify({ ...r, total: Math.round(r.total * 100) });
    })
    .sort();
}

function fileRun(topology: string, out: string): string[] {
  execFileSync(process.execPath, [RTML, 'run', topology, '--no-progress', '--source', `events=file:${join(dir, 'events.jsonl')}`, '--sink', `out=file:${out}`], { cwd: ROOT, stdio: 'pipe' });
  return readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').sort();
}

function results(topic: string): string[] {
  return consumeTopic(kafka, topic).map(([, value]) => value);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-scale-'));
  topo = join(dir, 'scale.ts');
  writeFileSync(topo, TOPOLOGY);
  writeFileSync(join(dir, 'events.jsonl'), EVENTS.join('\n') + '\n');
  kafka = await startMockKafka();
  // The references: the same topologies over a file, in one process without scale-out.
  reference = fileRun(topo, join(dir, 'reference.jsonl'));
  assert.ok(reference.length > 500, 'the reference has results');
  merchantsTopo = join(dir, 'merchants.ts');
  writeFileSync(merchantsTopo, BY_MERCHANT);
  merchantsReference = fileRun(merchantsTopo, join(dir, 'merchants-reference.jsonl'));
  twoTopo = join(dir, 'two.ts');
  writeFileSync(twoTopo, TWO_SOURCES);
});

after(async () => {
  await kafka?.stop();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

/** Runs `count` workers live in one group over the events and returns the distinct results and the workers' logs. */
async function runGroup(group: string, count: number, topology = topo, expected = reference): Promise<{ results: string[]; logs: string[] }> {
  await kafka.createTopic(`events-${group}`, PARTITIONS);
  await kafka.createTopic(`out-${group}`, PARTITIONS);
  const workers = Array.from({ length: count }, () => worker(workerArgs(group, `out-${group}`, join(dir, `ckpt-${group}`)), topology));
  try {
    // Every worker owns a share before any input arrives, so each one really processes some.
    await until(`${count} worker(s) to share the ${PARTITIONS} partitions`, () => {
      const shares = workers.map(owned);
      return shares.every((s) => s.size > 0) && shares.reduce((n, s) => n + s.size, 0) === PARTITIONS;
    }, 60_000, workers);
    produceKeyed(kafka, `events-${group}`, EVENTS);
    flushAllPartitions(`events-${group}`);
    await until('every result', () => new Set(results(`out-${group}`)).size >= expected.length, 90_000, workers);
  } finally {
    for (const w of workers) w.stop();
  }
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(codes, workers.map(() => 0), workers.map((w) => w.stderr()).join('\n'));
  return { results: results(`out-${group}`), logs: workers.map((w) => w.stderr()) };
}

describe('scale-out on a Kafka consumer group', { timeout: 300_000 }, () => {
  it('one worker and three workers over the same input give the same results (and the same as one process over a file)', async () => {
    const one = await runGroup('one', 1);
    const three = await runGroup('three', 3);
    assert.deepEqual([...new Set(one.results)].sort(), reference);
    assert.deepEqual([...new Set(three.results)].sort(), reference);
    // No failover happened, so no result was written twice.
    assert.equal(one.results.length, reference.length);
    assert.equal(three.results.length, reference.length);
    for (const log of three.logs) assert.match(log, /partitions assigned: \[\d\]/);
    // Each task's keys are the keys of its partition: no key's results came from two partitions.
    const keysPerPartition = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const read = execFileSync('kcat', ['-C', '-e', '-q', '-b', kafka.bootstrap, '-t', 'events-three', '-p', String(p), '-f', '%k\n']).toString();
      for (const key of read.split('\n').filter((k) => k !== '' && k !== 'flush')) {
        assert.equal(keysPerPartition.get(key) ?? p, p, `key ${key} in two partitions`);
        keysPerPartition.set(key, p);
      }
    }
  });

  it('repartition(): three workers aggregate by a key the input is not partitioned by, as one process does', async () => {
    // librdkafka's mock cluster does not create topics through the admin API: the exchange topic
    // (<group>-<topology>-repartition) is made here, with the source's partition count.
    await kafka.createTopic('merchants3-merchants-repartition', PARTITIONS);
    const three = await runGroup('merchants3', 3, merchantsTopo, merchantsReference);
    assert.deepEqual(cents(three.results), cents(merchantsReference));
    assert.equal(three.results.length, merchantsReference.length);
    for (const log of three.logs) assert.match(log, /partition \d \(downstream of repartition\('merchant_id'\)/);
  });

  // Known bug, open: under load this bounded group sometimes never ends. In CI on 2026-12-03 every
  // task of both workers logged "task done" (no revocation), and then neither worker exited: the
  // exit path (worker.ts: the loop waiting for GroupMembership.drained(), then leave()) never
  // completed — drained() staying false (the exchange's committed read offsets short of its high
  // offsets?) is the first suspect. Run and reported as a todo, bounded to 120 s so its failure
  // shows with the workers' logs, until that is found.
  it('repartition() in a bounded run: the exchange ends when every upstream task has ended, and the workers exit', { todo: 'known race: a bounded scale-out group behind repartition() can wait forever (see the comment)' }, async () => {
    const group = 'merchantsb';
    await kafka.createTopic(`events-${group}`, PARTITIONS);
    await kafka.createTopic(`out-${group}`, PARTITIONS);
    await kafka.createTopic(`${group}-merchants-repartition`, PARTITIONS);
    produceKeyed(kafka, `events-${group}`, EVENTS);
    const args = workerArgs(group, `out-${group}`, join(dir, `ckpt-${group}`)).filter((a) => a !== '--follow');
    const workers = [worker(args, merchantsTopo), worker(args, merchantsTopo)];
    // A bounded group that never ends is this test's failure, with what the workers said (not a
    // hang that cancels the rest of the suite).
    const deadline = setTimeout(() => workers.forEach((w) => w.stop('SIGKILL')), 120_000);
    const codes = await Promise.all(workers.map((w) => w.exited));
    clearTimeout(deadline);
    assert.deepEqual(codes, [0, 0], workers.map((w) => w.stderr()).join('\n'));
    const out = results(`out-${group}`);
    assert.deepEqual(cents(out), cents(merchantsReference));
    assert.equal(out.length, merchantsReference.length);
  });

  it('several sources: co-partitioned topics are read partition by partition in the same task (and other partition counts are refused)', async () => {
    const topics = ['payments-two', 'refunds-two', 'out-two'];
    for (const t of topics) await kafka.createTopic(t, PARTITIONS);
    const args = (payments: string, refunds: string, out: string, checkpoints: string) => [
      '--source', `payments=kafka://${kafka.bootstrap}/${payments}?group=two`,
      '--source', `refunds=kafka://${kafka.bootstrap}/${refunds}?group=two`,
      '--sink', `out=kafka://${kafka.bootstrap}/${out}`,
      '--scale-out', '--checkpoint-dir', join(dir, checkpoints),
    ];
    const workers = [0, 1].map(() => worker([...args('payments-two', 'refunds-two', 'out-two', 'ckpt-two'), '--follow'], twoTopo));
    try {
      await until('two workers to share the partitions', () => owned(workers[0]!).size > 0 && owned(workers[1]!).size > 0, 60_000, workers);
      // Every other event is a refund: each card's events are split between the two topics, keyed alike.
      produceKeyed(kafka, 'payments-two', EVENTS.filter((_, i) => i % 2 === 0));
      produceKeyed(kafka, 'refunds-two', EVENTS.filter((_, i) => i % 2 === 1));
      flushAllPartitions('payments-two');
      flushAllPartitions('refunds-two');
      await until('every result', () => cents(results('out-two')).length >= reference.length, 90_000, workers);
    } finally {
      for (const w of workers) w.stop();
    }
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0], workers.map((w) => w.stderr()).join('\n'));
    // A card's events of both topics met in one task: its windows count them all.
    assert.deepEqual(cents(results('out-two')), cents(reference));

    await kafka.createTopic('payments-bad', PARTITIONS);
    await kafka.createTopic('refunds-bad', PARTITIONS - 1);
    const refused = worker(args('payments-bad', 'refunds-bad', 'out-two', 'ckpt-bad'), twoTopo);
    assert.notEqual(await refused.exited, 0);
    assert.match(refused.stderr(), /co-partitioned sources, but topic refunds-bad has 2 partition\(s\) and the group's payments-bad 3/);
  });

  it('joins: an interval join of co-partitioned topics, two workers, gives the one-process results', async () => {
    const joinedTopo = join(dir, 'joined.ts');
    writeFileSync(joinedTopo, JOINED);
    const payments = EVENTS.filter((_, i) => i % 2 === 0);
    const refunds = EVENTS.filter((_, i) => i % 2 === 1);
    writeFileSync(join(dir, 'payments.jsonl'), payments.join('\n') + '\n');
    writeFileSync(join(dir, 'refunds.jsonl'), refunds.join('\n') + '\n');
    const referenceOut = join(dir, 'joined-reference.jsonl');
    execFileSync(process.execPath, [RTML, 'run', joinedTopo, '--no-progress', '--source', `payments=file:${join(dir, 'payments.jsonl')}`, '--source', `refunds=file:${join(dir, 'refunds.jsonl')}`, '--sink', `out=file:${referenceOut}`], { cwd: ROOT, stdio: 'pipe' });
    const expected = readFileSync(referenceOut, 'utf8').split('\n').filter((l) => l !== '').sort();
    assert.ok(expected.some((l) => l.includes('"refund":null')) && expected.some((l) => !l.includes('"refund":null')), 'the reference has pairs and unmatched payments');
    for (const t of ['payments-joined', 'refunds-joined', 'out-joined']) await kafka.createTopic(t, PARTITIONS);
    const args = [
      '--source', `payments=kafka://${kafka.bootstrap}/payments-joined?group=joined`,
      '--source', `refunds=kafka://${kafka.bootstrap}/refunds-joined?group=joined`,
      '--sink', `out=kafka://${kafka.bootstrap}/out-joined`,
      '--scale-out', '--follow', '--checkpoint-dir', join(dir, 'ckpt-joined'),
    ];
    const workers = [worker(args, joinedTopo), worker(args, joinedTopo)];
    // The flush events' own rows (card "flush") are not the reference's.
    const joined = () => results('out-joined').filter((l) => !l.includes('"card":"flush"')).sort();
    try {
      await until('two workers to share the partitions', () => owned(workers[0]!).size > 0 && owned(workers[1]!).size > 0, 60_000, workers);
      produceKeyed(kafka, 'payments-joined', payments);
      produceKeyed(kafka, 'refunds-joined', refunds);
      // Far-future events in every partition of both topics: each task's watermark passes every payment's day.
      flushAllPartitions('payments-joined');
      flushAllPartitions('refunds-joined');
      await until('every joined row', () => joined().length >= expected.length, 90_000, workers);
    } finally {
      for (const w of workers) w.stop();
    }
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0], workers.map((w) => w.stderr()).join('\n'));
    assert.deepEqual(joined(), expected);
  });

  it('a worker whose task another worker has claimed (it was paused past the session timeout) stops it without a checkpoint', async () => {
    const group = 'fenced';
    const checkpoints = join(dir, `ckpt-${group}`);
    await kafka.createTopic(`events-${group}`, PARTITIONS);
    await kafka.createTopic(`out-${group}`, PARTITIONS);
    const w = worker(workerArgs(group, `out-${group}`, checkpoints));
    const checkpoint = join(checkpoints, 'partition-0', 'scale.checkpoint');
    try {
      await until('the worker to own every partition', () => owned(w).size === PARTITIONS, 60_000, [w]);
      produceKeyed(kafka, `events-${group}`, EVENTS.slice(0, 2000));
      await until('a checkpoint of partition 0', () => existsSync(checkpoint), 60_000, [w]);
      await new Promise((r) => setTimeout(r, 500));
      // What the next owner does when it starts the task: claim it.
      writeFileSync(join(checkpoints, 'partition-0', 'owner'), 'another worker');
      const before = readFileSync(checkpoint);
      produceKeyed(kafka, `events-${group}`, EVENTS.slice(2000, 4000));
      await until('the worker to notice', () => /partition 0: another worker has taken the task over/.test(w.stderr()), 30_000, [w]);
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(readFileSync(checkpoint), before, "the other worker's checkpoint is left alone");
      assert.match(w.stderr(), /partition 0: task stopped/);
      assert.doesNotMatch(w.stderr(), /partition [12]: another worker/);
    } finally {
      w.stop();
    }
    assert.equal(await w.exited, 0, w.stderr());
  });

  it('when a worker is killed, the other takes its partitions over from their checkpoints: no state lost or doubled', async () => {
    // Outputs are at-least-once (a's results after its last checkpoint are written again by b), but
    // every result is exactly the reference's: a lost or doubled event would change a count or sum.
    const out = await failover('failover', topo, reference.length);
    assert.deepEqual([...new Set(out)].sort(), reference);
  });

  it('…and with repartition(): the exchange keeps state exactly-once (what a resumed upstream task sends again is dropped)', async () => {
    await kafka.createTopic('failover-m-merchants-repartition', PARTITIONS);
    const out = await failover('failover-m', merchantsTopo, merchantsReference.length);
    assert.deepEqual(cents(out), cents(merchantsReference));
  });
});

/**
 * Two live workers share the topic; once each of a's tasks has checkpointed part of the first half
 * of the input, a is killed (SIGKILL) and the second half produced; b takes every partition over.
 * Returns every result written (duplicates included).
 */
async function failover(group: string, topology: string, expectedCount: number): Promise<string[]> {
  const checkpoints = join(dir, `ckpt-${group}`);
  await kafka.createTopic(`events-${group}`, PARTITIONS);
  await kafka.createTopic(`out-${group}`, PARTITIONS);
  // Checkpoints by count only: a dies with input processed (and sent on) since its last one.
  const checkpointing = ['--checkpoint-every', '300', '--checkpoint-interval', '10m', '--batch-size', '50'];
  const a = worker(workerArgs(group, `out-${group}`, checkpoints, checkpointing), topology);
  const b = worker(workerArgs(group, `out-${group}`, checkpoints, checkpointing), topology);
  const workers = [a, b];
  try {
    await until('two workers to share the partitions', () => owned(a).size > 0 && owned(b).size > 0 && owned(a).size + owned(b).size === PARTITIONS, 60_000, workers);
    const half = Math.floor(EVENTS.length / 2);
    produceKeyed(kafka, `events-${group}`, EVENTS.slice(0, half));
    const aPartitions = [...owned(a)];
    await until("checkpoints of a's partitions", () => aPartitions.every((p) => {
      const d = join(checkpoints, `partition-${p}`);
      return existsSync(d) && readdirSync(d, { recursive: true }).some((f) => String(f).endsWith('.checkpoint'));
    }), 60_000, workers);
    await new Promise((r) => setTimeout(r, 500));
    a.stop('SIGKILL');
    produceKeyed(kafka, `events-${group}`, EVENTS.slice(half));
    flushAllPartitions(`events-${group}`);
    await until('b to take over every partition', () => owned(b).size === PARTITIONS, 60_000, workers);
    await until('every result', () => cents(results(`out-${group}`)).length >= expectedCount, 90_000, workers);
    for (const p of aPartitions) assert.match(b.stderr(), new RegExp(`partition ${p}\\b[^\\n]*: task starts from its checkpoint`));
  } finally {
    for (const w of workers) w.stop();
  }
  assert.equal(await b.exited, 0, b.stderr());
  return results(`out-${group}`);
}

