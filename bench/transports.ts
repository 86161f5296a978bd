/**
 * Throughput per transport against the embedded log, in one run: the same events are written by
 * `rtml run` with a pass-through topology into the embedded log (4 partitions), Kafka (librdkafka's
 * mock cluster, 4 partitions), Kinesis (kinesis-mock, 4 shards) and Pub/Sub (the gcloud emulator),
 * then read back bounded by bench/tumbling.ts (keyed 1-minute count + sum). Prints one line with
 * write and read events/s per transport and each read's ratio to the log's. Emulators are not the
 * cloud services: the figures compare rtml's connectors on this machine, not AWS or Google.
 *
 * Run: node --import tsx bench/transports.ts [--events 50000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { PubSub } from '@google-cloud/pubsub';
import { kinesisClient, parseKinesisUri } from '../connectors/kinesis/index.ts';
import { startMockKafka } from '../test/support/kafka.ts';
import { startKinesisMock } from '../test/support/kinesis.ts';
import { startPubSubEmulator } from '../test/support/pubsub.ts';
import { NODE_FLAGS, ROOT, RTML, writeEvents } from './support.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' } } });
const N = Number(values.events);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-transports-'));
const input = join(dir, 'events.jsonl');
writeEvents(input, N);

/** `rtml run` of a bench topology; events/s from its summary line (engine time, start-up excluded). */
function run(topology: string, source: string, sink: string, env: NodeJS.ProcessEnv, extra: string[] = []): number {
  process.stderr.write(`· ${topology} ${source} → ${sink}\n`);
  const r = spawnSync(process.execPath, [...NODE_FLAGS, RTML, 'run', join(ROOT, 'bench', topology), '--source', `events=${source}`, '--sink', `out=${sink}`, '--no-progress', ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const m = /events in ([\d,]+).*elapsed ([\d.]+)s/.exec(r.stderr);
  if (r.status !== 0 || !m || Number(m[1]!.replace(/,/g, '')) !== N) throw new Error(`rtml run ${topology} ${source} → ${sink} failed: ${r.stderr.slice(-800)}`);
  return N / Number(m[2]);
}

const figures: { name: string; write: number; read: number }[] = [];
const measure = (name: string, uri: string, env: NodeJS.ProcessEnv = {}, sourceUri = uri, readFlags: string[] = []) => {
  const write = run('passthrough.ts', `file:${input}`, uri, env);
  const read = run('tumbling.ts', sourceUri, 'null:', env, readFlags);
  figures.push({ name, write, read });
};

const stops: (() => Promise<void>)[] = [];
try {
  measure('log', `log:${join(dir, 'log')}?partitions=4`, {}, `log:${join(dir, 'log')}`);

  const kafka = await startMockKafka();
  stops.push(() => kafka.stop());
  await kafka.createTopic('events', 4);
  measure('Kafka', `kafka://${kafka.bootstrap}/events`);

  const kinesis = await startKinesisMock();
  stops.push(() => kinesis.stop());
  const kinesisUri = `kinesis://events?region=us-east-1&endpoint=${kinesis.endpoint}`;
  const client = kinesisClient(parseKinesisUri(kinesisUri));
  await client.send(new CreateStreamCommand({ StreamName: 'events', ShardCount: 4 }));
  while ((await client.send(new DescribeStreamSummaryCommand({ StreamName: 'events' }))).StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 100));
  measure('Kinesis', kinesisUri);

  const pubsub = await startPubSubEmulator();
  stops.push(() => pubsub.stop());
  const env = { PUBSUB_EMULATOR_HOST: pubsub.host };
  process.env.PUBSUB_EMULATOR_HOST = pubsub.host;
  const [topic] = await new PubSub({ projectId: 'test' }).createTopic('events');
  await topic.createSubscription('events-sub');
  // Pub/Sub messages are acked only by checkpoints, and at most 10k are held unacked: the read
  // checkpoints every 5k events. A bounded source also ends only after ?idle= ms without a message
  // and its ack deadline (10 s) since it opened: that wait is in its read time.
  const checkpoints = ['--checkpoint-dir', join(dir, 'checkpoints'), '--checkpoint-every', '5000'];
  measure('Pub/Sub', 'pubsub://test/events', env, 'pubsub://test/events-sub?idle=500', checkpoints);
} finally {
  for (const stop of stops) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
const k = (x: number) => (x >= 10_000 ? `${Math.round(x / 1000)}k` : `${(x / 1000).toFixed(1)}k`);
const log = figures[0]!;
console.log(
  `transports, ${N.toLocaleString('en-US')} events, write (pass-through) / read (keyed tumbling) events/s: ` +
    figures.map((f) => `${f.name} ${k(f.write)} / ${k(f.read)}${f === log ? '' : ` (read ${(f.read / log.read).toFixed(2)}x log)`}`).join(' | '),
);
