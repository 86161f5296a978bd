import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { Registry as PromRegistry } from 'prom-client';
import { buildProfile, defineTopology, monitor, monitorAccuracy, rocAuc, tumbling, type AccuracyRecord, type DriftRecord } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { monitoringRecorder } from '../monitoring/postgresRecorder.ts';
import { POSTGRES_URI } from './support/features.ts';
import { prng } from './support/generate.ts';
import { memorySink, memorySource } from './support/memory.ts';

/**
 * monitor() and monitorAccuracy() in real runs: drift found where the data moved and not where it
 * did not, records as rows in the real Postgres (upserted: a replay adds no twins), gauges.
 */

const MINUTE = 60_000;

/** Normal(mean, sd) by Box–Muller from a seeded PRNG. */
function normal(rand: () => number, mean: number, sd: number): number {
  return mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

interface Scored {
  t: number;
  amount: number;
  merchant: string;
  score: number;
  version: string;
  is_fraud?: number | null;
}

/** 600 scored events a minute for `minutes`; from minute `shiftAt` on, amount moves by 2 sd and the merchants change. */
function scored(seed: number, minutes: number, shiftAt: number, version = 'v1'): Scored[] {
  const rand = prng(seed);
  const out: Scored[] = [];
  for (let m = 0; m < minutes; m++) {
    for (let i = 0; i < 600; i++) {
      const shifted = m >= shiftAt;
      const amount = normal(rand, shifted ? 70 : 50, 10);
      const merchant = shifted ? ['m1', 'm4', 'm4'][Math.floor(rand() * 3)]! : ['m1', 'm2', 'm3'][Math.floor(rand() * 3)]!;
      out.push({ t: m * MINUTE + i * 100, amount, merchant, score: Math.min(1, Math.max(0, normal(rand, 0.2, 0.1))), version });
    }
  }
  return out;
}

const reference = (() => {
  const events = scored(1, 10, Infinity);
  return buildProfile(
    [
      { name: 'amount', values: events.map((e) => e.amount) },
      { name: 'merchant', values: events.map((e) => e.merchant) },
    ],
    events.map((e) => e.score),
  );
})();

async function monitorRun(events: Scored[], options: { recorder?: ReturnType<typeof monitoringRecorder>; metrics?: PromRegistry } = {}): Promise<DriftRecord[]> {
  const out = memorySink();
  const topology = defineTopology('watched', ({ source, sink }) =>
    source<Scored>('scored', { time: 't' }).pipe(monitor({ name: 'fraud', profile: reference }, { window: tumbling('1m') }), sink('drift')),
  );
  await runTopology(topology, { sources: { scored: memorySource([events]) }, sinks: { drift: out.connector }, monitoring: options.recorder, metrics: options.metrics });
  return out.values as DriftRecord[];
}

const find = (records: DriftRecord[], minute: number, feature: string, test: string) => records.find((r) => r.window_start === minute * MINUTE && r.feature === feature && r.test === test)!;

describe('monitor()', () => {
  it('finds drift in the windows where the data moved, and none before', async () => {
    const records = await monitorRun(scored(2, 4, 2));
    for (const minute of [0, 1]) {
      assert.equal(find(records, minute, '*', 'drift_share').value, 0, `minute ${minute}`);
      assert.equal(find(records, minute, '*', 'drift_share').drifted, false);
      assert.ok(find(records, minute, 'amount', 'ks').p_value! > 0.05);
    }
    for (const minute of [2, 3]) {
      const share = find(records, minute, '*', 'drift_share');
      assert.equal(share.value, 1, `minute ${minute}: both features drifted`);
      assert.equal(share.drifted, true);
      // 600 values a window: KS (numeric) and χ² (categorical) decide, as Evidently's defaults.
      const ks = find(records, minute, 'amount', 'ks');
      assert.equal(ks.decisive, true);
      assert.ok(ks.p_value! < 1e-10 && ks.drifted);
      assert.ok(find(records, minute, 'amount', 'wasserstein').value! > 1.5);
      assert.ok(find(records, minute, 'amount', 'mean_shift').value! > 1.5);
      assert.equal(find(records, minute, 'merchant', 'chi_square').decisive, true);
      assert.ok(find(records, minute, 'merchant', 'chi_square').drifted);
      assert.ok(find(records, minute, 'merchant', 'out_of_range_rate').value! > 0.5, 'm4 is a new merchant');
      // The score did not move; it is reported but not counted in the share.
      assert.equal(find(records, minute, 'score', 'ks').drifted, false);
      assert.equal(find(records, minute, 'score', 'ks').decisive, false);
    }
    const tests = new Set(records.filter((r) => r.feature === 'amount').map((r) => r.test));
    assert.deepEqual([...tests].sort(), ['jensen_shannon', 'ks', 'mean_shift', 'null_rate', 'out_of_range_rate', 'psi', 'std_shift', 'wasserstein']);
  });

  it('writes its records as rows in Postgres, upserted (a second run rewrites the same rows), and sets gauges', async (t) => {
    const recorder = monitoringRecorder(POSTGRES_URI);
    const model = `fraud_${process.pid}_${Date.now()}`;
    t.after(async () => {
      await recorder.sql.query('DELETE FROM rtml_drift WHERE model = $1', [model]);
      await recorder.close();
    });
    const topology = defineTopology('watched', ({ source, sink }) =>
      source<Scored>('scored', { time: 't' }).pipe(monitor({ name: model, profile: reference }, { window: tumbling('1m') }), sink('drift')),
    );
    const metrics = new PromRegistry();
    const run = () => runTopology(topology, { sources: { scored: memorySource([scored(3, 3, 2)]) }, sinks: { drift: memorySink().connector }, monitoring: recorder, metrics });
    await run();
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    t.after(() => client.end());
    const rows = async () =>
      (await client.query(`SELECT version, extract(epoch from window_start) * 1000 AS start, feature, test, value, p_value, drifted FROM rtml_drift WHERE model = $1 ORDER BY 2, 3, 4`, [model])).rows;
    const first = await rows();
    assert.equal(first.filter((r) => r.feature === '*' && r.test === 'drift_share').length, 3);
    assert.deepEqual(
      first.filter((r) => r.feature === '*' && r.test === 'drift_share').map((r) => [Number(r.start), r.drifted]),
      [[0, false], [MINUTE, false], [2 * MINUTE, true]],
    );
    await run();
    assert.deepEqual(await rows(), first);
    const exported = await metrics.metrics();
    assert.match(exported, new RegExp(`rtml_model_drift_share\\{topology="watched",model="${model}",version="v1"\\} 1`));
    assert.match(exported, new RegExp(`rtml_feature_drifted\\{topology="watched",model="${model}",version="v1",feature="amount",test="ks"\\} 1`));
  });

  it('dead-letters an event with no version: it is not a scored event', async () => {
    const dlq = memorySink();
    const topology = defineTopology('watched', ({ source, sink }) =>
      source<Scored>('scored', { time: 't' }).pipe(monitor({ name: 'fraud', profile: reference }, { window: tumbling('1m') }), sink('drift')),
    );
    const events: unknown[] = [{ t: 1, amount: 1, merchant: 'm1', score: 0.1 }, ...scored(4, 1, 9)];
    const stats = await runTopology(topology, { sources: { scored: memorySource([events]) }, sinks: { drift: memorySink().connector, dlq: dlq.connector } });
    assert.equal(stats.deadLettered, 1);
    assert.match(String((dlq.values[0] as { reason: string }).reason), /the event has no 'version'/);
  });

  it('refuses unknown options, tests and thresholds when the topology is built', () => {
    assert.throws(() => monitor({ name: 'm', profile: reference }, { window: tumbling('1m'), thershold: 1 } as never), /unknown option 'thershold'/);
    assert.throws(() => monitor({ name: 'm', profile: reference }, { window: tumbling('1m'), tests: { amount: 'kss' as never } }), /tests.amount must be one of/);
    assert.throws(() => monitor({ name: 'm', profile: reference }, { window: tumbling('1m'), thresholds: { ks: -1 } }), /threshold ks must be a number ≥ 0/);
    assert.throws(() => monitor('fraud', { window: tumbling('1m') }), /name a registered model as 'registry:NAME'/);
  });
});

describe('monitorAccuracy()', () => {
  it('per window and version (A/B arms side by side): AUC, log loss, precision, recall, ECE of the labelled predictions', async () => {
    const rand = prng(9);
    const events: Scored[] = [];
    for (let i = 0; i < 2000; i++) {
      const version = i % 2 === 0 ? 'v1' : 'v2';
      const fraud = rand() < 0.2 ? 1 : 0;
      // v2 separates the classes better than v1; a tenth of the predictions has no label yet.
      const score = Math.min(1, Math.max(0, normal(rand, fraud ? (version === 'v1' ? 0.6 : 0.8) : 0.3, 0.15)));
      events.push({ t: i * 60, amount: 1, merchant: 'm1', score, version, is_fraud: i % 10 === 9 ? null : fraud });
    }
    const out = memorySink();
    const topology = defineTopology('accuracy', ({ source, sink }) =>
      source<Scored>('labelled', { time: 't' }).pipe(monitorAccuracy('fraud', { window: tumbling('1m'), label: 'is_fraud', threshold: 0.5 }), sink('accuracy')),
    );
    await runTopology(topology, { sources: { labelled: memorySource([events]) }, sinks: { accuracy: out.connector } });
    const records = out.values as AccuracyRecord[];
    const windows = new Set(records.map((r) => r.window_start));
    assert.equal(windows.size, 2);
    for (const start of windows) {
      for (const version of ['v1', 'v2']) {
        const mine = events.filter((e) => e.version === version && e.t >= start && e.t < start + MINUTE && e.is_fraud !== null);
        const get = (metric: string) => records.find((r) => r.window_start === start && r.version === version && r.metric === metric)!.value;
        assert.equal(get('labelled'), mine.length);
        assert.equal(get('auc'), rocAuc(mine.map((e) => e.is_fraud!), mine.map((e) => e.score)));
        const predicted = mine.filter((e) => e.score >= 0.5);
        assert.equal(get('precision'), predicted.filter((e) => e.is_fraud === 1).length / predicted.length);
      }
      const auc = (v: string) => records.find((r) => r.window_start === start && r.version === v && r.metric === 'auc')!.value!;
      assert.ok(auc('v2') > auc('v1'), 'the better arm shows it');
    }
  });
});

