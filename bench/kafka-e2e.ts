/**
 * End-to-end latency on Kafka: events produced at a fixed rate (default 5k/s) to a topic of
 * librdkafka's mock cluster, scored by `rtml run --follow` (keyBy + score with a 100-tree depth-6
 * model from the registry) and written to a predictions topic, consumed here. Latency = when the
 * prediction arrives − when its event was produced (both clocks in this process). Prints one line.
 * The producer, the consumer, rtml and the mock brokers share the machine's 2 cores.
 *
 * Run: node --import tsx bench/kafka-e2e.ts [--rate 5000] [--seconds 10]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { kafkaModule } from '../connectors/kafka/client.ts';
import { trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx } from '../models/onnx/index.ts';
import { startMockKafka } from '../test/support/kafka.ts';
import { arrivalConsumer, produceAtRate, warmUp } from './kafkaLatency.ts';
import { NODE_FLAGS, ROOT, RTML } from './support.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '10' } } });
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const FEATURES = ['amount', 'f1', 'f2', 'f3'];

const dir = mkdtempSync(join(tmpdir(), 'rtml-kafka-e2e-'));
const kafka = await startMockKafka();
let rtml: ReturnType<typeof spawn> | undefined;
try {
  await kafka.createTopic('txns', 3);
  await kafka.createTopic('predictions', 3);
  const model = gbdtToOnnx({ ...trainGbdt(xorData({ rows: 2000, features: FEATURES.length, seed: 3 }), { trees: 100, depth: 6 }), features: FEATURES }, { label: 'y' });
  writeFileSync(join(dir, 'model.onnx'), model);
  const registry = ['--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models')];
  execFileSync(process.execPath, [...NODE_FLAGS, RTML, 'models', 'register', 'e2e', join(dir, 'model.onnx'), '--stage', 'production', '--features', FEATURES.join(','), ...registry], { cwd: ROOT, stdio: 'ignore' });
  writeFileSync(
    join(dir, 'e2e.ts'),
    `import { defineTopology, keyBy, score } from 'rtml';
export default defineTopology('e2e', ({ source, sink }) =>
  source('txns', { time: 'ts' }).pipe(keyBy('card_id'), score('registry:e2e', { features: ${JSON.stringify(FEATURES)}, maxBatch: 64 }), sink('predictions')));
`,
  );
  const broker = kafka.bootstrap;
  rtml = spawn(process.execPath, [...NODE_FLAGS, RTML, 'run', join(dir, 'e2e.ts'), '--source', `txns=kafka://${broker}/txns`, '--sink', `predictions=kafka://${broker}/predictions`, '--follow', '--from', 'latest', '--no-progress', ...registry], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  rtml.stderr!.on('data', (d) => (stderr += d));

  const { Kafka } = kafkaModule().KafkaJS;
  const client = new Kafka({ kafkaJS: { brokers: broker.split(','), logLevel: 0 } });
  // A latency-minded producer: librdkafka's default linger.ms (5) would hold each event up to 5 ms.
  const producer = client.producer({ kafkaJS: { idempotent: true, allowAutoTopicCreation: true }, 'linger.ms': 1 });
  await producer.connect();
  const latencies: number[] = [];
  let measuring = false;
  let seen = 0;
  const consumer = await arrivalConsumer(broker, 'predictions', (sent, now) => {
    seen++;
    if (measuring && sent > 0) latencies.push(now - sent);
  });
  let n = 0;
  const event = () => {
    const now = performance.timeOrigin + performance.now();
    const i = n++;
    return { key: `c${i % 500}`, value: JSON.stringify({ card_id: `c${i % 500}`, amount: (i * 7) % 500, f1: (i % 13) / 13, f2: (i % 7) / 7, f3: (i % 3) / 3, ts: Math.floor(now), sent: measuring ? now : 0 }) };
  };
  // Warm up until predictions flow (rtml started, model loaded, partitions assigned).
  if (!(await warmUp(producer, 'txns', event, () => seen >= 100, 600))) throw new Error(`no predictions after warm-up; rtml said: ${stderr}`);
  measuring = true;
  await produceAtRate(producer, 'txns', RATE, SECONDS, event);
  await new Promise((r) => setTimeout(r, 2000));
  measuring = false;
  await Promise.all([producer.disconnect(), consumer.close()]);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
  console.log(`kafka end-to-end (mock cluster, 3 partitions): event produced → prediction consumed at ${RATE} ev/s for ${SECONDS} s: p50 ${pct(50)} ms, p99 ${pct(99)} ms, ${latencies.length} predictions measured (target p99 < 10 ms)`);
} finally {
  rtml?.kill('SIGTERM');
  await kafka.stop();
  rmSync(dir, { recursive: true, force: true });
}
