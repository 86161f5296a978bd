import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { encodeWire, LocalSchemaIds } from '../connectors/kafka/wireFormat.ts';
import { kinesisClient, parseKinesisUri } from '../connectors/kinesis/index.ts';
import { loadSchema } from '../engine/avro.ts';
import { FRAUD_FEATURES } from '../topologies/fraud.ts';
import { node, ROOT, rtml, runSummary, sortedCanon, type Summary } from './support/cli.ts';
import { consumeTopic, produceKeyedBytes, startMockKafka, type MockKafka } from './support/kafka.ts';
import { createStream, putRecords, readAll, startKinesisMock, type KinesisMock } from './support/kinesis.ts';
import { publishRecords, pullMessages, startPubSubEmulator, topicWithSubscription, type PubSubEmulator } from './support/pubsub.ts';

/**
 * The fraud demo with its transactions in and its predictions out on Kafka, Kinesis and Pub/Sub
 * must stream the same predictions as on the embedded log.
 *
 * Set up as demo/run.sh does, smaller: demo/generate.ts writes card transactions and their labels;
 * `rtml backfill topologies/card-minute.ts` and `rtml features export` make the training set;
 * `rtml train` a small model, registered as production `fraud` in a registry of this test's own
 * (pglite in a temp dir). The reference is `rtml run topologies/fraud.ts` from the log (3
 * partitions, fed by `rtml produce`) to the log (read back with `rtml log cat`). Then the same
 * transactions go to each transport, Avro-encoded with schemas/transaction.avsc (the topology
 * declares that schema, so every transport's source decodes Avro: Confluent wire format on Kafka,
 * plain binary on Kinesis and Pub/Sub), keyed by card, and the same run writes its predictions to
 * the same transport, where an independent path reads them back (kcat, the AWS SDK, the Pub/Sub
 * client).
 *
 * What must match: each prediction is a payment enriched with its card's activity this minute as
 * computed from the card's earlier payments, then scored by the same model. So a prediction
 * depends on the order of its card's payments (kept by every transport per key: Kafka partitions
 * and Kinesis shards by the message key, Pub/Sub by an ordering key on a subscription with message
 * ordering), not on how cards interleave; predictions therefore compare exactly (scores too) as
 * sorted sets, and run counts (in, processed, late, dead-lettered, out) are equal.
 */

const TRANSACTIONS = 4000;
const CARDS = 100;
const FRAUD = join(ROOT, 'topologies', 'fraud.ts');
const SCHEMA = join(ROOT, 'schemas', 'transaction.avsc');

interface Transaction {
  txn_id: string;
  card_id: string;
  merchant_id: string;
  amount: number;
  ts: number;
}

interface Prediction extends Transaction {
  score: number;
  label: number;
  model: string;
  version: string;
  card_minute__n: number | null;
}

let dir: string;
let kafka: MockKafka;
let kinesis: KinesisMock;
let pubsub: PubSubEmulator;
let kinesisSdk: KinesisClient;
let pubsubClient: PubSub;
let savedPubSubHost: string | undefined;
let transactions: Transaction[];
/** The log run: what every transport must give. */
let reference: { predictions: string[]; summary: Summary };

/** A child process that must succeed; returns its stdout. */
async function ok(run: Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<string> {
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** A bounded `rtml run topologies/fraud.ts` from `source` to `sink`, scoring with this test's registry; its summary counts. */
async function runFraud(name: string, source: string, sink: string): Promise<Summary> {
  const r = await rtml([
    'run', FRAUD, '--source', `transactions=${source}`, '--sink', `predictions=${sink}`,
    '--online', 'memory:', '--offline', `pglite:${join(dir, `offline-${name}`)}`,
    '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models'), '--no-progress',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return runSummary('fraud', r.stderr);
}

/** Predictions read back as (message key, value): each message must be keyed by its payment's card. */
function predictionValues(messages: { key: string | undefined; value: unknown }[]): unknown[] {
  for (const m of messages) assert.equal(m.key, (m.value as Prediction).card_id, `message key of ${JSON.stringify(m.value)}`);
  return messages.map((m) => m.value);
}

/** Makes the training set as demo/run.sh does, trains a small model and registers it as production `fraud`. */
async function trainAndRegister(log: string): Promise<void> {
  const offline = `pglite:${join(dir, 'offline-train')}`;
  await ok(rtml(['backfill', join(ROOT, 'topologies', 'card-minute.ts'), '--source', `transactions=${log}`, '--offline', offline, '--no-progress']));
  const train = join(dir, 'train.csv');
  await ok(rtml(['features', 'export', '--view', 'card_minute', '--labels', join(dir, 'labels.jsonl'), '--out', train, '--offline', offline]));
  const model = join(dir, 'fraud.onnx');
  await ok(rtml(['train', '--data', train, '--label', 'is_fraud', '--features', FRAUD_FEATURES.join(','), '--out', model, '--trees', '10', '--depth', '4', '--learning-rate', '0.5']));
  await ok(rtml(['models', 'register', 'fraud', model, '--stage', 'production', '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models')]));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-fraud-transports-'));
  // The peers start (the Pub/Sub emulator, a JVM, is the slowest) while the model is made; each is stopped in after.
  const peers = Promise.allSettled([startMockKafka(), startKinesisMock(), startPubSubEmulator()]);

  const generated = await ok(node(['--import', 'tsx', join(ROOT, 'demo', 'generate.ts'), '--events', String(TRANSACTIONS), '--cards', String(CARDS), '--seed', '3', '--labels', join(dir, 'labels.jsonl')]));
  transactions = generated.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Transaction);
  const log = `log:${join(dir, 'transactions')}`;
  await ok(rtml(['produce', log, '--schema', SCHEMA, '--key', 'card_id', '--partitions', '3'], generated));
  await trainAndRegister(log);

  const [k, kin, ps] = await peers;
  if (k.status === 'fulfilled') kafka = k.value;
  if (kin.status === 'fulfilled') kinesis = kin.value;
  if (ps.status === 'fulfilled') pubsub = ps.value;
  for (const s of [k, kin, ps]) if (s.status === 'rejected') throw s.reason;
  kinesisSdk = kinesisClient(parseKinesisUri(`kinesis://x?region=us-east-1&endpoint=${encodeURIComponent(kinesis.endpoint)}`));
  // The emulator host for this process's client and the rtml children (they inherit the environment).
  savedPubSubHost = process.env.PUBSUB_EMULATOR_HOST;
  process.env.PUBSUB_EMULATOR_HOST = pubsub.host;
  pubsubClient = new PubSub({ projectId: 'test' });

  const predictions = `log:${join(dir, 'predictions')}`;
  const summary = await runFraud('log', log, `${predictions}?partitions=2`);
  const cat = await ok(rtml(['log', 'cat', predictions]));
  const records = cat.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { key: string; value: unknown });
  const values = predictionValues(records) as Prediction[];
  reference = { predictions: sortedCanon(values), summary };

  // The reference scores every payment once with the registered model, and the comparison covers
  // order-dependent features: cards with several payments a minute, and cards with none yet.
  assert.deepEqual(summary, { in: TRANSACTIONS, processed: summary.processed, late: summary.late, deadLettered: 0, resultsOut: TRANSACTIONS });
  assert.deepEqual(values.map((p) => p.txn_id).sort(), transactions.map((t) => t.txn_id).sort());
  assert.ok(values.every((p) => p.model === 'fraud' && p.version === 'v1' && Number.isFinite(p.score)));
  assert.ok(values.some((p) => p.card_minute__n === null), 'some payments come first for their card');
  assert.ok(values.some((p) => (p.card_minute__n ?? 0) >= 3), 'some cards have several payments in a minute');
  assert.ok(new Set(values.map((p) => p.score)).size >= 20, 'the scores depend on the features');
  assert.ok(values.some((p) => p.label === 1), 'the model flags some payments');
  assert.ok(values.some((p) => p.label === 0));
  const labels = readFileSync(join(dir, 'labels.jsonl'), 'utf8');
  assert.match(labels, /"is_fraud":1/, 'the generator made fraud bursts');
});

after(async () => {
  if (savedPubSubHost === undefined) delete process.env.PUBSUB_EMULATOR_HOST;
  else process.env.PUBSUB_EMULATOR_HOST = savedPubSubHost;
  await pubsubClient?.close();
  kinesisSdk?.destroy();
  await Promise.all([kafka?.stop(), kinesis?.stop(), pubsub?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TYPE = loadSchema(SCHEMA, [ROOT], 'test');

/** The transactions, each with its card, encoded by `encode` (default: Avro binary with schemas/transaction.avsc). */
function keyed(encode: (t: Transaction) => Buffer = (t) => TYPE.toBuffer(t)): { key: string; data: Buffer }[] {
  return transactions.map((t) => ({ key: t.card_id, data: encode(t) }));
}

/**
 * One transport: `feed` writes the transactions and returns the run's source and sink URIs;
 * `readBack` reads the predictions from the transport. The run happens once, before the comparisons.
 */
function transport(name: string, setup: { feed: () => Promise<{ source: string; sink: string }>; readBack: () => Promise<{ key: string | undefined; value: unknown }[]> }): void {
  describe(name, () => {
    let got: { predictions: unknown[]; summary: Summary };
    before(async () => {
      const { source, sink } = await setup.feed();
      const summary = await runFraud(name.replace(/\W.*$/, ''), source, sink);
      got = { predictions: predictionValues(await setup.readBack()), summary };
    });
    it("run counts (in, processed, late, dead-lettered, out) equal the log run's", () => {
      assert.deepEqual(got.summary, reference.summary);
    });
    it("predictions read back from the transport equal the log run's, scores included (sorted; message keys = card ids)", () => {
      assert.deepEqual(sortedCanon(got.predictions), reference.predictions);
    });
  });
}

describe('the fraud demo streams the same predictions on every transport as on the log', { timeout: 150_000 }, () => {
  transport('kafka:// (Avro in the Confluent wire format, 3 partitions, produced keyed by kcat; predictions to a 3-partition topic, read with kcat)', {
    async feed() {
      await kafka.createTopic('transactions', 3);
      await kafka.createTopic('predictions', 3);
      produceKeyedBytes(kafka, 'transactions', keyed((t) => encodeWire(TYPE, LocalSchemaIds.idOf(TYPE), t)));
      return { source: `kafka://${kafka.bootstrap}/transactions?group=fraud`, sink: `kafka://${kafka.bootstrap}/predictions` };
    },
    readBack: async () => consumeTopic(kafka, 'predictions').map(([key, value]) => ({ key, value: JSON.parse(value) as unknown })),
  });

  let predictions = '';
  const kinesisUri = (stream: string) => `kinesis://${stream}?region=us-east-1&endpoint=${encodeURIComponent(kinesis.endpoint)}`;
  transport('kinesis:// (Avro, 2 shards, put keyed by card with the SDK; predictions to a 2-shard stream, read with the SDK)', {
    async feed() {
      const stream = await createStream(kinesisSdk, 2);
      predictions = await createStream(kinesisSdk, 2);
      await putRecords(kinesisSdk, stream, keyed());
      return { source: kinesisUri(stream), sink: kinesisUri(predictions) };
    },
    readBack: () => readAll(kinesisSdk, predictions),
  });

  transport('pubsub:// (Avro, published with the card as ordering key to a subscription with message ordering; predictions pulled with the client)', {
    async feed() {
      await topicWithSubscription(pubsubClient, 'transactions', { ordering: true });
      await topicWithSubscription(pubsubClient, 'predictions');
      await publishRecords(pubsubClient, 'transactions', keyed(), true);
      return { source: 'pubsub://test/transactions-sub?idle=1500', sink: 'pubsub://test/predictions' };
    },
    // As many messages as the log run has predictions: a missing one fails by timeout, a wrong one by the comparison.
    readBack: async () =>
      (await pullMessages(pubsubClient, 'predictions-sub', reference.predictions.length, 30_000)).map((m) => ({ key: m.attributes.key, value: JSON.parse(m.data.toString('utf8')) as unknown })),
  });
});
