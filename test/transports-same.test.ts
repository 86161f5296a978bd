import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PubSub } from '@google-cloud/pubsub';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { canon, jsonLines, rtml, runSummary, sortedCanon, type Summary } from './support/cli.ts';
import { eventLines } from './support/generate.ts';
import { consumeTopic, produceKeyed, type MockKafka } from './support/kafka.ts';
import { createStream, putLines, readAll, type KinesisMock } from './support/kinesis.ts';
import { publish, pullMessages, topicWithSubscription } from './support/pubsub.ts';
import { startPeers, type Peers } from './support/peers.ts';

/**
 * One topology and one event set through every transport — file:, log:, kafka://, kinesis://,
 * pubsub:// — each the source and the `out` sink of a bounded `rtml run` (a child process), the
 * results read back from the transport by an independent path (rtml log cat, kcat, the AWS SDK,
 * the Pub/Sub client): results, dead letters and run counts must equal the file run's.
 *
 * What "identical" can mean: the transports with several partitions (log 3, Kafka 3, Kinesis 2)
 * interleave them differently from run to run, and Pub/Sub keeps no order at all. The topology
 * allows 1 h out of order, more than the events' whole span, so no event is ever late and every
 * window closes at the end of input whatever the arrival order; its aggregates do not depend on
 * order (sums in integer cents: float addition does). Then results per key are exact, and the
 * results compare as sorted sets. Dead letters compare by reason, source and payload: their
 * positions are each transport's own.
 *
 * The log is fed by `rtml produce`, which validates against an Avro schema and refuses what the
 * log cannot hold (lines that are not JSON, events without a time): those lines are checked to be
 * exactly the ones refused, and the log run to equal the file run without them.
 */

const CARDS = 20;

const TOPOLOGY = `
import { aggregate, count, defineTopology, distinct, hopping, keyBy, max, min, sum, window } from 'rtml';
export default defineTopology('same', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '1h' }).pipe(
    keyBy('card_id'),
    window(hopping('60s', '30s')),
    aggregate({ n: count(), cents: sum((e: { amount: number }) => Math.round(e.amount * 100)), low: min('amount'), high: max('amount'), merchants: distinct('merchant_id') }),
    sink('out'),
  ),
);
`;

/** The log's schema: amount may be a string, so the non-numeric amounts reach the run (and its dlq) as from the other transports. */
const LOG_SCHEMA = {
  type: 'record',
  name: 'Event',
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'merchant_id', type: 'string' },
    { name: 'amount', type: ['double', 'string'] },
    { name: 'ts', type: 'long' },
  ],
};

/**
 * Card events with out-of-order and very late arrivals, and bad lines: not JSON and non-numeric
 * amounts (the generator's; given a merchant, so that the log's schema takes them), and events
 * without a time.
 */
const LINES = eventLines(3000, { seed: 17, keys: CARDS, bad: true }).flatMap((line, i) => {
  const bad = /"amount":"n\/a"/.test(line) ? JSON.parse(line) as { card_id: string; ts: number } : undefined;
  const event = bad ? JSON.stringify({ card_id: bad.card_id, merchant_id: 'm0', amount: 'n/a', ts: bad.ts }) : line;
  return i % 250 === 100 ? [event, JSON.stringify({ card_id: `c${(i - 100) / 250}`, merchant_id: 'm1', amount: 1 })] : [event];
});

/** Line indexes the log cannot hold: not JSON, or no numeric time. */
const UNLOGGABLE = LINES.flatMap((line, i) => {
  try {
    return typeof (JSON.parse(line) as { ts?: unknown }).ts === 'number' ? [] : [i];
  } catch {
    return [i];
  }
});

interface Letter {
  reason: string;
  source: string;
  partition: number;
  offset: number;
  payload: unknown;
}

/** A dead letter without its position (partition, offset): what must match across transports. */
const letterWithoutPosition = ({ reason, source, payload }: Letter): string => canon({ reason, source, payload });

let dir: string;
let kafka: MockKafka;
let kinesis: KinesisMock;
let kinesisSdk: KinesisClient;
let pubsubClient: PubSub;
let peers: Peers | undefined;

/** The file run: what every transport must give. */
let reference: { results: string[]; letters: Letter[]; summary: Summary };

/**
 * A bounded `rtml run` of the topology from `source`, results to `out`, dead letters to a file.
 * Returns the run's summary counts and its dead letters.
 */
async function run(name: string, source: string, out: string): Promise<{ summary: Summary; letters: Letter[] }> {
  const dlq = join(dir, `${name}-dlq.jsonl`);
  const r = await rtml(['run', join(dir, 'same.ts'), '--source', `events=${source}`, '--sink', `out=${out}`, '--sink', `dlq=file:${dlq}`, '--no-progress']);
  assert.equal(r.code, 0, r.stderr);
  return { summary: runSummary('same', r.stderr), letters: jsonLines(dlq) as Letter[] };
}

/** Results read back from a transport as (message key, value) pairs: each key must be its result's key. */
function resultValues(messages: { key: string | undefined; value: unknown }[]): unknown[] {
  for (const m of messages) assert.equal(m.key, (m.value as { key: string }).key, `message key of ${canon(m.value)}`);
  return messages.map((m) => m.value);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtml-transports-'));
  writeFileSync(join(dir, 'same.ts'), TOPOLOGY);
  writeFileSync(join(dir, 'events.jsonl'), `${LINES.join('\n')}\n`);
  writeFileSync(join(dir, 'event.avsc'), JSON.stringify(LOG_SCHEMA));
  peers = await startPeers();
  ({ kafka, kinesis, kinesisSdk, pubsubClient } = peers);

  const outFile = join(dir, 'file-out.jsonl');
  const { summary, letters } = await run('file', `file:${join(dir, 'events.jsonl')}`, `file:${outFile}`);
  reference = { results: sortedCanon(jsonLines(outFile)), letters, summary };
  // The comparison covers every kind of input: results, late-free out-of-order events, and the three kinds of bad line.
  assert.ok(reference.results.length > 200, `${reference.results.length} results`);
  assert.equal(summary.in, LINES.length);
  assert.equal(summary.late, 0);
  assert.equal(summary.resultsOut, reference.results.length);
  assert.equal(summary.deadLettered, letters.length);
  const reasons = letters.map((l) => l.reason).join('\n');
  for (const kind of [/invalid JSON/, /time/, /not a finite number/]) assert.match(reasons, kind);
  const unloggable = new Set(UNLOGGABLE);
  const times = LINES.flatMap((l, i) => (unloggable.has(i) ? [] : [(JSON.parse(l) as { ts: number }).ts]));
  assert.ok(times.some((t, i) => i > 0 && t < times[i - 1]! - 60_000), 'some events arrive over a minute out of order');
  assert.ok(Math.max(...times) - Math.min(...times) < 3_600_000, 'the events span less than the 1 h out-of-order allowance');
});

after(async () => {
  await peers?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * One transport: `feed` writes the events and returns the run's source and out URIs; `readBack`
 * reads the results from the transport. The run happens once, before the comparisons.
 */
function transport(
  name: string,
  setup: {
    feed: () => Promise<{ source: string; out: string }>;
    readBack: () => Promise<{ key: string | undefined; value: unknown }[]>;
    /** What the file run gives for this transport (the log's differs by the lines produce refuses). */
    expected?: () => typeof reference;
  },
): void {
  describe(name, () => {
    let got: { results: unknown[]; letters: Letter[]; summary: Summary };
    let expected: typeof reference;
    before(async () => {
      const { source, out } = await setup.feed();
      const { summary, letters } = await run(name.replace(/\W.*$/, ''), source, out);
      got = { results: resultValues(await setup.readBack()), letters, summary };
      expected = setup.expected?.() ?? reference;
    });
    it('run counts (in, processed, late, dead-lettered, results out) equal the file run\'s', () => {
      assert.deepEqual(got.summary, expected.summary);
    });
    it('results, read back from the transport, equal the file run\'s (sorted; message keys = result keys)', () => {
      assert.deepEqual(sortedCanon(got.results), expected.results);
    });
    it('dead letters (reason, source, payload) equal the file run\'s', () => {
      assert.deepEqual(got.letters.map(letterWithoutPosition).sort(), expected.letters.map(letterWithoutPosition).sort());
    });
  });
}

describe('the same topology and events through every transport', { timeout: 150_000 }, () => {
  transport('log: (fed by rtml produce, 3 partitions; results to a 2-partition topic, read with rtml log cat)', {
    async feed() {
      const events = `log:${join(dir, 'log', 'events')}`;
      const produced = await rtml(['produce', events, '--schema', join(dir, 'event.avsc'), '--key', 'card_id', '--partitions', '3'], `${LINES.join('\n')}\n`);
      // produce refuses exactly the lines the log cannot hold (and says so with its exit code).
      assert.equal(produced.code, 1, produced.stderr);
      const refused = [...produced.stderr.matchAll(/^rtml: line (\d+): /gm)].map((m) => Number(m[1]) - 1);
      assert.deepEqual(refused, UNLOGGABLE);
      return { source: events, out: `log:${join(dir, 'log', 'results')}?partitions=2` };
    },
    async readBack() {
      const cat = await rtml(['log', 'cat', `log:${join(dir, 'log', 'results')}`]);
      assert.equal(cat.code, 0, cat.stderr);
      const records = cat.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { partition: number; key: string; value: unknown });
      assert.deepEqual([...new Set(records.map((r) => r.partition))].sort(), [0, 1], 'results spread over both partitions');
      return records;
    },
    // The file run without the refused lines: the same results, its other dead letters, counts less the refused.
    expected() {
      const skipped = new Set(UNLOGGABLE);
      const letters = reference.letters.filter((l) => !skipped.has(l.offset));
      assert.ok(letters.length > 0 && letters.length < reference.letters.length);
      const { summary } = reference;
      return { results: reference.results, letters, summary: { ...summary, in: summary.in - skipped.size, deadLettered: summary.deadLettered - skipped.size } };
    },
  });

  transport('kafka:// (3 partitions, produced keyed by kcat; results to a 3-partition topic, read with kcat)', {
    async feed() {
      await kafka.createTopic('events', 3);
      await kafka.createTopic('results', 3);
      produceKeyed(kafka, 'events', LINES);
      return { source: `kafka://${kafka.bootstrap}/events?group=same`, out: `kafka://${kafka.bootstrap}/results` };
    },
    readBack: async () => consumeTopic(kafka, 'results').map(([key, value]) => ({ key, value: JSON.parse(value) as unknown })),
  });

  let results = '';
  const kinesisUri = (stream: string) => `kinesis://${stream}?region=us-east-1&endpoint=${encodeURIComponent(kinesis.endpoint)}`;
  transport('kinesis:// (2 shards, put keyed with the SDK; results to a 2-shard stream, read with the SDK)', {
    async feed() {
      const events = await createStream(kinesisSdk, 2);
      results = await createStream(kinesisSdk, 2);
      await putLines(kinesisSdk, events, LINES);
      return { source: kinesisUri(events), out: kinesisUri(results) };
    },
    readBack: () => readAll(kinesisSdk, results),
  });

  transport('pubsub:// (published unordered with the client; results to a topic, pulled with the client)', {
    async feed() {
      await topicWithSubscription(pubsubClient, 'events');
      await topicWithSubscription(pubsubClient, 'results');
      await publish(pubsubClient, 'events', LINES, false);
      return { source: 'pubsub://test/events-sub?idle=1500', out: 'pubsub://test/results' };
    },
    // As many messages as the file run has results: a missing one fails by timeout, a wrong one by the comparison.
    readBack: async () =>
      (await pullMessages(pubsubClient, 'results-sub', reference.results.length, 30_000)).map((m) => ({ key: m.attributes.key, value: JSON.parse(m.data.toString('utf8')) as unknown })),
  });
});
