import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PubSub } from '@google-cloud/pubsub';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { encodeWire, LocalSchemaIds } from '../connectors/kafka/wireFormat.ts';
import { loadSchema } from '../engine/avro.ts';
import { FRAUD_FEATURES } from '../topologies/fraud.ts';
import { node, ROOT, rtml, runSummary, sortedCanon, type Summary } from './support/cli.ts';
import { consumeTopic, produceKeyedBytes, type MockKafka } from './support/kafka.ts';
import { createStream, putRecords, readAll, type KinesisMock } from './support/kinesis.ts';
import { publishRecords, pullMessages, topicWithSubscription } from './support/pubsub.ts';
import { startPeers, type Peers } from './support/peers.ts';

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
 * ordering) and on which payments the window drops as late (behind the watermark by more than 5 s
 * out of order + 30 s lateness), not otherwise on how cards interleave. Kafka and Kinesis keep each
 * partition in order with a watermark per partition, so the same few very late payments are
 * dropped as on the log: predictions compare exactly (scores too) as sorted sets, and run counts
 * (in, processed, late, dead-lettered, out) are equal. Pub/Sub does not (PUBSUB_WATERMARK, a todo);
 * fraud.ts allowing 1 h out of order shows that everything else matches there too.
 */

const TRANSACTIONS = 4000;
const CARDS = 100;
const FRAUD = join(ROOT, 'topologies', 'fraud.ts');
const SCHEMA = join(ROOT, 'schemas', 'transaction.avsc');

/**
 * Why fraud.ts's predictions differ on Pub/Sub: Pub/Sub keeps order per ordering key only, and
 * delivers a backlog grouped by key (the emulator: each card's payments together, minutes out of
 * order across cards). The source is one partition with one watermark, so about half the payments
 * arrive behind it by more than card_minute's window allows (outOfOrder 5s + lateness 30s): they
 * are dropped from the window as late, and the features, hence the scores, of later payments
 * differ (measured: 1,700-1,980 of 4,000 late against 10 on the log, as many predictions differ;
 * published in time order 50 at a time, the emulator groups them by key all the same). Without
 * ordering keys each card's own order is lost instead (hundreds of per-card inversions). Not a
 * connector fix: it needs a watermark per ordering key, or an allowance over the skew (engine).
 */
const PUBSUB_WATERMARK = 'Pub/Sub orders per key only and the source has one watermark: about half the payments are late for the windows (see PUBSUB_WATERMARK)';

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
let kinesisSdk: KinesisClient;
let pubsubClient: PubSub;
let peers: Peers | undefined;
let transactions: Transaction[];
interface Reference {
  /** Sorted canonical JSON. */
  predictions: string[];
  summary: Summary;
}
/** The log run: what every transport must give. */
let reference: Reference;

/** A child process that must succeed; returns its stdout. */
async function ok(run: Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<string> {
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** A bounded `rtml run` of the fraud topology from `source` to `sink`, scoring with this test's registry; its summary counts. */
async function runFraud(topology: string, name: string, source: string, sink: string): Promise<Summary> {
  const r = await rtml([
    'run', topology, '--source', `transactions=${source}`, '--sink', `predictions=${sink}`,
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

const logTopic = (name: string): string => `log:${join(dir, name)}`;

/** The topology's run from the transactions on the log to predictions on the log (2 partitions), read back with `rtml log cat`. */
async function logRun(topology: string, name: string): Promise<{ values: Prediction[]; reference: Reference }> {
  const predictions = logTopic(`predictions-${name}`);
  const summary = await runFraud(topology, name, logTopic('transactions'), `${predictions}?partitions=2`);
  const cat = await ok(rtml(['log', 'cat', predictions]));
  const records = cat.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { key: string; value: unknown });
  const values = predictionValues(records) as Prediction[];
  return { values, reference: { predictions: sortedCanon(values), summary } };
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
  const starting = startPeers();

  const generated = await ok(node(['--import', 'tsx', join(ROOT, 'demo', 'generate.ts'), '--events', String(TRANSACTIONS), '--cards', String(CARDS), '--seed', '3', '--labels', join(dir, 'labels.jsonl')]));
  transactions = generated.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Transaction);
  const log = logTopic('transactions');
  await ok(rtml(['produce', log, '--schema', SCHEMA, '--key', 'card_id', '--partitions', '3'], generated));
  await trainAndRegister(log);

  peers = await starting;
  ({ kafka, kinesis, kinesisSdk, pubsubClient } = peers);

  const { values, reference: logReference } = await logRun(FRAUD, 'log');
  reference = logReference;
  const { summary } = reference;

  // The reference scores every payment once (late ones too: only the window drops them) with the
  // registered model, and the comparison covers order-dependent features: cards with several
  // payments a minute, and cards with none yet.
  assert.equal(summary.in, TRANSACTIONS);
  assert.equal(summary.resultsOut, TRANSACTIONS);
  assert.equal(summary.deadLettered, 0);
  assert.equal(summary.processed + summary.late, summary.in);
  assert.ok(summary.late > 0, "some very late payments miss their window: the comparison covers the watermark's decisions too");
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
  await peers?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TYPE = loadSchema(SCHEMA, [ROOT], 'test');

/** The transactions, each with its card, encoded by `encode` (default: Avro binary with schemas/transaction.avsc). */
function keyed(encode: (t: Transaction) => Buffer = (t) => TYPE.toBuffer(t)): { key: string; data: Buffer }[] {
  return transactions.map((t) => ({ key: t.card_id, data: encode(t) }));
}

/**
 * One transport: `feed` writes the transactions and returns the run's source and sink URIs;
 * `readBack` reads the predictions from the transport. The run of `topology` (default
 * topologies/fraud.ts) happens once, before the comparisons with `expected` (default the log run).
 */
function transport(
  name: string,
  setup: {
    tag: string;
    feed: () => Promise<{ source: string; sink: string }>;
    readBack: () => Promise<{ key: string | undefined; value: unknown }[]>;
    topology?: () => string;
    expected?: () => Reference;
    todo?: string;
  },
): void {
  describe(name, () => {
    let got: { predictions: unknown[]; summary: Summary };
    let expected: Reference;
    before(async () => {
      const { source, sink } = await setup.feed();
      const summary = await runFraud(setup.topology?.() ?? FRAUD, setup.tag, source, sink);
      got = { predictions: predictionValues(await setup.readBack()), summary };
      expected = setup.expected?.() ?? reference;
    });
    it("run counts (in, processed, late, dead-lettered, out) equal the log run's", { todo: setup.todo }, () => {
      assert.deepEqual(got.summary, expected.summary);
    });
    it("predictions read back from the transport equal the log run's, scores included (sorted; message keys = card ids)", { todo: setup.todo }, () => {
      const have = sortedCanon(got.predictions);
      const want = expected.predictions;
      const [had, wanted] = [new Set(have), new Set(want)];
      const missing = want.filter((p) => !had.has(p));
      const extra = have.filter((p) => !wanted.has(p));
      // The differences, briefly (a diff of thousands of lines says less), then as multisets.
      assert.ok(missing.length === 0 && extra.length === 0, `${missing.length} of the log run's ${want.length} predictions not read back, ${extra.length} of ${have.length} read back not the log run's; e.g. want ${missing[0]}, got ${extra[0]}`);
      assert.deepEqual(have, want);
    });
  });
}

/** Feeds Pub/Sub: the transactions published with the card as ordering key, to `<topic>-sub` (with message ordering); predictions to `<predictions>`. */
async function feedPubSub(topic: string, predictions: string): Promise<{ source: string; sink: string }> {
  await topicWithSubscription(pubsubClient, topic, { ordering: true });
  await topicWithSubscription(pubsubClient, predictions);
  await publishRecords(pubsubClient, topic, keyed(), true);
  return { source: `pubsub://test/${topic}-sub?idle=1500`, sink: `pubsub://test/${predictions}` };
}

/** As many messages as the log run has predictions: a missing one fails by timeout, a wrong one by the comparison. */
async function pullPredictions(predictions: string): Promise<{ key: string | undefined; value: unknown }[]> {
  const messages = await pullMessages(pubsubClient, `${predictions}-sub`, reference.predictions.length, 30_000);
  return messages.map((m) => ({ key: m.attributes.key, value: JSON.parse(m.data.toString('utf8')) as unknown }));
}

describe('the fraud demo streams the same predictions on every transport as on the log', { timeout: 150_000 }, () => {
  transport('kafka:// (Avro in the Confluent wire format, 3 partitions, produced keyed by kcat; predictions to a 3-partition topic, read with kcat)', {
    tag: 'kafka',
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
    tag: 'kinesis',
    async feed() {
      const stream = await createStream(kinesisSdk, 2);
      predictions = await createStream(kinesisSdk, 2);
      await putRecords(kinesisSdk, stream, keyed());
      return { source: kinesisUri(stream), sink: kinesisUri(predictions) };
    },
    readBack: () => readAll(kinesisSdk, predictions),
  });

  transport('pubsub:// (Avro, published with the card as ordering key to a subscription with message ordering; predictions pulled with the client)', {
    tag: 'pubsub',
    feed: () => feedPubSub('transactions', 'predictions'),
    readBack: () => pullPredictions('predictions'),
    todo: PUBSUB_WATERMARK,
  });

  // What the Pub/Sub difference comes down to: fraud.ts with an out-of-order allowance over the
  // whole input (no payment is ever late) gives on Pub/Sub exactly the log's predictions.
  let lateFree: { topology: string; reference: Reference };
  describe('pubsub:// with fraud.ts allowing 1 h out of order (more than the input spans: no payment late)', () => {
    before(async () => {
      const topology = join(dir, 'fraud-late-free.ts');
      let text = readFileSync(FRAUD, 'utf8');
      for (const [from, to] of [
        ["'./card-minute.ts'", JSON.stringify(join(ROOT, 'topologies', 'card-minute.ts'))],
        ["'../schemas/transaction.avsc'", JSON.stringify(SCHEMA)],
        ["outOfOrder: '5s'", "outOfOrder: '1h'"],
      ] as const) {
        assert.ok(text.includes(from), `topologies/fraud.ts has ${from}`);
        text = text.replace(from, to);
      }
      writeFileSync(topology, text);
      const run = await logRun(topology, 'log-late-free');
      assert.equal(run.reference.summary.late, 0);
      assert.ok(transactions.at(-1)!.ts - transactions[0]!.ts < 3_600_000, 'the transactions span less than 1 h');
      lateFree = { topology, reference: run.reference };
    });
    transport('pubsub:// (as above)', {
      tag: 'pubsub-late-free',
      feed: () => feedPubSub('transactions-late-free', 'predictions-late-free'),
      readBack: () => pullPredictions('predictions-late-free'),
      topology: () => lateFree.topology,
      expected: () => lateFree.reference,
    });
  });
});
