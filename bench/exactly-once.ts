/**
 * What exactly-once Kafka outputs cost (`rtml run --exactly-once`), against at-least-once in the same
 * run, at checkpoint intervals of 1 s and 10 s, on librdkafka's mock cluster acting as Kafka's
 * transaction coordinator (test/support/kafka-mock.c). A topology keyed by card passes each event on
 * from one 3-partition topic to another.
 *
 * - Throughput: a bounded run over `--events` events (the engine's events/s, start-up excluded;
 *   the best of two runs, the modes alternating).
 * - Latency: a live run (`--follow`) fed at `--rate` events/s for `--seconds`; latency = when the
 *   result is consumed with isolation.level=read_committed − when its event was produced. An
 *   exactly-once result is seen once the checkpoint after it commits: about half the interval on
 *   average, the whole interval at worst.
 *
 * Prints four lines. The producer, consumer, rtml and the mock brokers share the machine's 2 cores.
 *
 * Run: node --import tsx bench/exactly-once.ts [--events 1000000] [--rate 2000] [--seconds 25]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { kafkaModule } from '../connectors/kafka/client.ts';
import { startMockKafka, type MockKafka } from '../test/support/kafka.ts';
import { arrivalConsumer, produceAtRate, warmUp } from './kafkaLatency.ts';
import { NODE_FLAGS, ROOT, RTML } from './support.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, rate: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '25' } } });
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const INTERVALS = ['1s', '10s'];

const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-eos-'));
const kafka = await startMockKafka({ transactions: true });
// The mock cluster cannot create topics through the admin API.
await kafka.createTopic('rtml-checkpoints', 1);
writeFileSync(
  join(dir, 'pass.ts'),
  `import { defineTopology, keyBy } from 'rtml';
export default defineTopology('pass', ({ source, sink }) => source('txns', { time: 'ts' }).pipe(keyBy('card_id'), sink('out')));
`,
);
let runs = 0;

/** A fresh 3-partition output topic, with the input topic `input` (a fresh one too by default). */
async function topicsFor(input?: string): Promise<{ input: string; output: string; n: number }> {
  const n = runs++;
  const t = { input: input ?? `txns-${n}`, output: `out-${n}`, n };
  if (input === undefined) await kafka.createTopic(t.input, 3);
  await kafka.createTopic(t.output, 3);
  return t;
}

function runArgs(kafka: MockKafka, t: { input: string; output: string; n: number }, exactlyOnce: boolean, interval: string): string[] {
  return [
    ...NODE_FLAGS, RTML, 'run', join(dir, 'pass.ts'), '--source', `txns=kafka://${kafka.bootstrap}/${t.input}?group=g-${t.n}`,
    '--sink', `out=kafka://${kafka.bootstrap}/${t.output}`, '--checkpoint-dir', join(dir, `checkpoints-${t.n}`), '--checkpoint-interval', interval, '--no-progress',
    ...(exactlyOnce ? ['--exactly-once'] : []),
  ];
}

/** The input of the throughput runs: EVENTS events in a 3-partition topic. */
async function throughputInput(): Promise<string> {
  await kafka.createTopic('bounded', 3);
  const lines: string[] = [];
  for (let i = 0; i < EVENTS; i++) lines.push(`c${i % 1000}:{"card_id":"c${i % 1000}","amount":${i % 500},"ts":${1_700_000_000_000 + i}}`);
  execFileSync('kcat', ['-P', '-b', kafka.bootstrap, '-t', 'bounded', '-K:'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 });
  return 'bounded';
}

/** Events per second of a bounded run over the EVENTS events of `input` (the summary line's figure). */
async function throughput(input: string, exactlyOnce: boolean, interval: string): Promise<number> {
  const t = await topicsFor(input);
  const run = spawnSync(process.execPath, runArgs(kafka, t, exactlyOnce, interval), { cwd: ROOT, encoding: 'utf8' });
  const rate = /([\d,]+) events\/s/.exec(run.stderr)?.[1];
  if (run.status !== 0 || rate === undefined) throw new Error(`rtml run failed: ${run.stderr}`);
  return Number(rate.replaceAll(',', ''));
}

/** p50 and p99 of event produced → result consumed (read_committed) in a live run, ms. */
async function latency(exactlyOnce: boolean, interval: string): Promise<{ p50: number; p99: number; n: number }> {
  const t = await topicsFor();
  const rtml = spawn(process.execPath, [...runArgs(kafka, t, exactlyOnce, interval), '--follow', '--from', 'latest'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  rtml.stderr!.on('data', (d) => (stderr += d));
  const { Kafka } = kafkaModule().KafkaJS;
  const producer = new Kafka({ kafkaJS: { brokers: kafka.bootstrap.split(','), logLevel: 0 } }).producer({ kafkaJS: { idempotent: true }, 'linger.ms': 1 });
  await producer.connect();
  const latencies: number[] = [];
  let measuring = false;
  let seen = 0;
  const consumer = await arrivalConsumer(
    kafka.bootstrap,
    t.output,
    (sent, now) => {
      seen++;
      if (sent > 0) latencies.push(now - sent);
    },
    { 'isolation.level': 'read_committed' },
  );
  // A timer too: with read_committed, records become readable when a commit moves the stable offset, which the queue callback may not announce.
  const poll = setInterval(consumer.drain, 5);
  let n = 0;
  const event = () => {
    const now = performance.timeOrigin + performance.now();
    const i = n++;
    return { key: `c${i % 500}`, value: JSON.stringify({ card_id: `c${i % 500}`, amount: i % 500, ts: Math.floor(now), sent: measuring ? now : 0 }) };
  };
  try {
    // Warm up until results flow (rtml started, partitions assigned, a commit seen).
    if (!(await warmUp(producer, t.input, event, () => seen >= 100, 1200))) throw new Error(`no results after warm-up; rtml said: ${stderr}`);
    measuring = true;
    const sent = await produceAtRate(producer, t.input, RATE, SECONDS, event);
    measuring = false;
    // Until the last measured result is committed and read.
    const deadline = Date.now() + 60_000;
    while (latencies.length < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (latencies.length < sent) throw new Error(`${sent - latencies.length} of ${sent} results never arrived; rtml said: ${stderr}`);
  } finally {
    clearInterval(poll);
    rtml.kill('SIGTERM');
    await new Promise((r) => rtml.on('exit', r));
    await Promise.all([producer.disconnect(), consumer.close()]);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  return { p50: pct(50), p99: pct(99), n: latencies.length };
}

try {
  const input = await throughputInput();
  for (const interval of INTERVALS) {
    let [alo, eos] = [0, 0];
    for (let i = 0; i < 2; i++) {
      alo = Math.max(alo, await throughput(input, false, interval));
      eos = Math.max(eos, await throughput(input, true, interval));
    }
    console.log(`exactly-once throughput (mock cluster, 3 partitions, ${EVENTS} events, checkpoint interval ${interval}): at-least-once ${Math.round(alo)} ev/s, exactly-once ${Math.round(eos)} ev/s (${(eos / alo).toFixed(2)}×)`);
  }
  for (const interval of INTERVALS) {
    const [alo, eos] = [await latency(false, interval), await latency(true, interval)];
    const ms = (x: number) => (x < 100 ? x.toFixed(1) : Math.round(x).toString());
    console.log(`exactly-once latency (mock cluster, ${RATE} ev/s for ${SECONDS} s, read_committed consumer, checkpoint interval ${interval}): at-least-once p50 ${ms(alo.p50)} ms, p99 ${ms(alo.p99)} ms; exactly-once p50 ${ms(eos.p50)} ms, p99 ${ms(eos.p99)} ms (p50 ${(eos.p50 / alo.p50).toFixed(0)}×); ${alo.n} and ${eos.n} results`);
  }
} finally {
  await kafka.stop();
  rmSync(dir, { recursive: true, force: true });
}
