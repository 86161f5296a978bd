import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { rocAuc, type AccuracyRecord, type DriftRecord } from '../engine/index.ts';
import { scoreWithOnnx } from '../models/onnx/index.ts';
import { jsonLines, rtml, runSummary, sortedCanon } from './support/cli.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { prng } from './support/generate.ts';
import { appendLines, scrapeUntil, seriesValue, startLive } from './support/liveRun.ts';
import { cleanModels, uniqueModel } from './support/registry.ts';

/**
 * `rtml train` → `rtml models register` → `rtml models profile` → `rtml monitor`, each a child
 * process, against the real Postgres: the profile the training left, drift found in the windows
 * after the data moved and in none before (drift sink and rtml_drift rows agree), online accuracy
 * per window with the labelled count the outcomes give (accuracy sink and rtml_accuracy rows
 * agree), the same rows after a second run (upserts), and the gauges of a live `--follow` run.
 */

const FEATURES = ['amount', 'velocity', 'distance'];
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const TRAINING_ROWS = 3000;
/** Predictions a minute, 150 ms apart: ≤ 1000, so KS decides each numeric feature's drift. */
const PER_MINUTE = 300;
const MINUTES = 6;
/** From this minute on every feature moves: amounts ×2.5, velocity +3 (2 sd), distances ×3. */
const SHIFT_AT = 3;
/** `--label-within`: outcomes 2 s after their prediction join, those 45 s after do not. */
const LABEL_WITHIN = '30s';

interface Txn {
  amount: number;
  velocity: number;
  /** Missing for 5 % of payments. */
  distance: number | null;
  is_fraud: 0 | 1;
}

function normal(rand: () => number, mean: number, sd: number): number {
  return mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** One payment; fraud is likelier for large amounts at high velocity. */
function txn(rand: () => number, shifted: boolean): Txn {
  const amount = Math.exp(normal(rand, 3.5, 0.5)) * (shifted ? 2.5 : 1);
  const velocity = normal(rand, 5, 1.5) + (shifted ? 3 : 0);
  const distance = rand() < 0.05 ? null : -Math.log(1 - rand()) * 10 * (shifted ? 3 : 1);
  const risky = amount > 50 && velocity > 6;
  return { amount, velocity, distance, is_fraud: rand() < (risky ? 0.7 : 0.03) ? 1 : 0 };
}

interface Prediction {
  txn_id: string;
  ts: number;
  amount: number;
  velocity: number;
  distance: number | null;
  score: number;
  version: string;
}

interface Outcome {
  txn_id: string;
  ts: number;
  is_fraud: 0 | 1;
}

const files = tempDir('monitor-cli');
const model = join(files.dir, 'model.onnx');
const artifacts = join(files.dir, 'artifacts');
let trainingNulls = 0;
let predictions: Prediction[] = [];
let outcomes: Outcome[] = [];
/** Per minute: the predictions whose outcome joins (labelled), and those left unlabelled. */
const expected: { labelled: Prediction[]; unlabelled: number }[] = [];
const labelOf = new Map<string, 0 | 1>();

before(async () => {
  const rand = prng(41);
  const rows = Array.from({ length: TRAINING_ROWS }, () => txn(rand, false));
  trainingNulls = rows.filter((r) => r.distance === null).length;
  const cell = (v: number | null) => (v === null ? '' : String(v));
  writeFileSync(join(files.dir, 'train.csv'), ['is_fraud,amount,velocity,distance', ...rows.map((r) => `${r.is_fraud},${r.amount},${r.velocity},${cell(r.distance)}`)].join('\n') + '\n');
  const trained = await rtml(['train', '--data', join(files.dir, 'train.csv'), '--label', 'is_fraud', '--features', FEATURES.join(','), '--out', model, '--trees', '20', '--depth', '3']);
  assert.equal(trained.code, 0, trained.stderr);

  // What score() would have written for each payment, scored by the trained model itself.
  const payments: (Txn & { ts: number; txn_id: string })[] = [];
  for (let m = 0; m < MINUTES; m++) {
    for (let i = 0; i < PER_MINUTE; i++) payments.push({ ...txn(rand, m >= SHIFT_AT), ts: T0 + m * MINUTE + i * 150, txn_id: `t${m}-${i}` });
  }
  const values = Float64Array.from(payments.flatMap((p) => [p.amount, p.velocity, p.distance ?? Number.NaN]));
  const scores = await scoreWithOnnx(readFileSync(model), { features: FEATURES, rows: payments.length, values });
  predictions = payments.map((p, i) => ({ txn_id: p.txn_id, ts: p.ts, amount: p.amount, velocity: p.velocity, distance: p.distance, score: scores[i]!, version: 'v1' }));
  for (let m = 0; m < MINUTES; m++) expected.push({ labelled: [], unlabelled: 0 });
  // 80 % of outcomes come 2 s after the payment (same minute: payments stop at 44.85 s), 10 % after 45 s (too late to join), 10 % never.
  for (const [i, p] of predictions.entries()) {
    labelOf.set(p.txn_id, payments[i]!.is_fraud);
    const r = rand();
    const window = expected[Math.floor((p.ts - T0) / MINUTE)]!;
    if (r < 0.8) window.labelled.push(p);
    else window.unlabelled++;
    if (r < 0.9) outcomes.push({ txn_id: p.txn_id, ts: p.ts + (r < 0.8 ? 2000 : 45_000), is_fraud: payments[i]!.is_fraud });
  }
  outcomes = outcomes.sort((a, b) => a.ts - b.ts);
});
after(() => files.remove());

/** The true outcome of a prediction's payment. */
const label = (p: Prediction) => labelOf.get(p.txn_id)!;

const jsonl = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join('\n') + '\n';

/** Registers the trained model as `name` v1 in production, in the Postgres registry; rows and versions are deleted after the test. */
async function registerModel(t: TestContext, name: string): Promise<void> {
  cleanModels(t, name);
  t.after(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    try {
      for (const table of ['rtml_drift', 'rtml_accuracy']) {
        if ((await client.query(`SELECT to_regclass('${table}') AS t`)).rows[0].t !== null) await client.query(`DELETE FROM ${table} WHERE model = $1`, [name]);
      }
    } finally {
      await client.end();
    }
  });
  const registered = await rtml(['models', 'register', name, model, '--stage', 'production', '--registry', POSTGRES_URI, '--artifacts', artifacts]);
  assert.equal(registered.code, 0, registered.stderr);
}

async function query<R>(sql: string, params: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URI });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as R[];
  } finally {
    await client.end();
  }
}

/** rtml_drift rows of a model, shaped as the records (times in epoch ms), without written_at. */
const driftRows = (name: string) =>
  query<Omit<DriftRecord, 'decisive'>>(
    `SELECT model, version, (extract(epoch FROM window_start) * 1000)::float8 AS window_start, (extract(epoch FROM window_end) * 1000)::float8 AS window_end,
            feature, test, value, p_value, threshold, drifted, n::float8 AS n
     FROM rtml_drift WHERE model = $1 ORDER BY window_start, feature, test`,
    [name],
  );

const accuracyRows = (name: string) =>
  query<AccuracyRecord>(
    `SELECT model, version, (extract(epoch FROM window_start) * 1000)::float8 AS window_start, (extract(epoch FROM window_end) * 1000)::float8 AS window_end,
            metric, value, n::float8 AS n, threshold
     FROM rtml_accuracy WHERE model = $1 ORDER BY window_start, metric`,
    [name],
  );

describe('rtml monitor (CLI, Postgres)', () => {
  it('train → register → profile → monitor: drift after the shift only, accuracy per window, sinks and rows agree, a second run upserts', async (t) => {
    const name = uniqueModel('monitor');
    await registerModel(t, name);

    // The profile rtml train embedded, as the registry serves it.
    const json = await rtml(['models', 'profile', name, '1', '--json', '--registry', POSTGRES_URI, '--artifacts', artifacts]);
    assert.equal(json.code, 0, json.stderr);
    const profile = JSON.parse(json.stdout) as { rows: number; features: { name: string; kind: string; count: number; nulls: number }[]; score?: { kind: string; count: number } };
    assert.equal(profile.rows, TRAINING_ROWS);
    assert.deepEqual(
      profile.features.map((f) => [f.name, f.kind, f.count, f.nulls]),
      [
        ['amount', 'numeric', TRAINING_ROWS, 0],
        ['velocity', 'numeric', TRAINING_ROWS, 0],
        ['distance', 'numeric', TRAINING_ROWS - trainingNulls, trainingNulls],
      ],
    );
    assert.equal(profile.score?.kind, 'numeric');
    assert.equal(profile.score?.count, TRAINING_ROWS / 5, 'the score of the held-out 20 %');
    const table = await rtml(['models', 'profile', name, '1', '--registry', POSTGRES_URI, '--artifacts', artifacts]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `${name} v1: reference profile of 3,000 training rows`);
    assert.match(lines[1]!, /^FEATURE +KIND +COUNT +NULL RATE +MEAN +STD +MIN +P50 +MAX +TOP VALUES$/);
    const cells = lines.slice(2).map((l) => l.split(/ {2,}/));
    assert.deepEqual(
      cells.map((c) => c.slice(0, 4)),
      [
        ['amount', 'numeric', String(TRAINING_ROWS), '0'],
        ['velocity', 'numeric', String(TRAINING_ROWS), '0'],
        ['distance', 'numeric', String(TRAINING_ROWS - trainingNulls), String(Number((trainingNulls / TRAINING_ROWS).toFixed(4)))],
        ['score (held out)', 'numeric', String(TRAINING_ROWS / 5), '0'],
      ],
    );

    writeFileSync(join(files.dir, `${name}-predictions.jsonl`), jsonl(predictions));
    writeFileSync(join(files.dir, `${name}-outcomes.jsonl`), jsonl(outcomes));
    const sinks = { drift: join(files.dir, `${name}-drift.jsonl`), accuracy: join(files.dir, `${name}-accuracy.jsonl`) };
    const monitorRun = async () => {
      const run = await rtml([
        'monitor', name,
        '--source', `predictions=file:${join(files.dir, `${name}-predictions.jsonl`)}`, '--source', `outcomes=file:${join(files.dir, `${name}-outcomes.jsonl`)}`,
        '--label', 'is_fraud', '--label-within', LABEL_WITHIN,
        '--sink', `drift=file:${sinks.drift}`, '--sink', `accuracy=file:${sinks.accuracy}`,
        '--window', '1m', '--registry', POSTGRES_URI, '--artifacts', artifacts, '--no-progress',
      ]);
      assert.equal(run.code, 0, run.stderr);
      const summary = runSummary(`monitor-${name}`, run.stderr);
      assert.deepEqual([summary.in, summary.late, summary.deadLettered], [predictions.length + outcomes.length, 0, 0]);
      return { drift: jsonLines(sinks.drift) as DriftRecord[], accuracy: jsonLines(sinks.accuracy) as AccuracyRecord[] };
    };
    const { drift, accuracy } = await monitorRun();

    // Drift: one drift_share per window; none before the shift, every feature after it.
    const share = drift.filter((r) => r.feature === '*' && r.test === 'drift_share');
    assert.deepEqual(share.map((r) => r.window_start), Array.from({ length: MINUTES }, (_, m) => T0 + m * MINUTE));
    for (const r of share) {
      const shifted = r.window_start >= T0 + SHIFT_AT * MINUTE;
      assert.equal(r.drifted, shifted, `window ${(r.window_start - T0) / MINUTE}: drift share ${r.value}`);
      if (shifted) assert.equal(r.value, 1);
      else assert.ok(r.value! < 0.5);
      assert.equal(r.n, PER_MINUTE);
      for (const feature of FEATURES) {
        const decisive = drift.filter((d) => d.window_start === r.window_start && d.feature === feature && d.decisive);
        assert.deepEqual(decisive.map((d) => d.test), ['ks'], `${feature}: ${PER_MINUTE} values a window, KS decides`);
        if (shifted) assert.ok(decisive[0]!.drifted, `${feature} drifted in window ${(r.window_start - T0) / MINUTE}`);
      }
    }
    const rows = await driftRows(name);
    assert.equal(rows.length, drift.length);
    assert.deepEqual(sortedCanon(rows), sortedCanon(drift.map(({ decisive: _decisive, ...row }) => row)));

    // Accuracy: per window, the labelled predictions (outcome within 30 s) scored, the others counted.
    const windows = [...new Set(accuracy.map((r) => r.window_start))];
    assert.deepEqual(windows, Array.from({ length: MINUTES }, (_, m) => T0 + m * MINUTE));
    for (const [m, want] of expected.entries()) {
      const get = (metric: string) => accuracy.find((r) => r.window_start === T0 + m * MINUTE && r.version === 'v1' && r.metric === metric)!;
      assert.equal(get('labelled').value, want.labelled.length, `minute ${m}`);
      assert.equal(get('unlabelled').value, want.unlabelled);
      assert.equal(get('positives').value, want.labelled.filter((p) => label(p) === 1).length);
      assert.equal(get('auc').value, rocAuc(want.labelled.map(label), want.labelled.map((p) => p.score)));
      assert.ok(accuracy.filter((r) => r.window_start === T0 + m * MINUTE).every((r) => r.n === want.labelled.length && r.threshold === 0.5));
    }
    const quality = await accuracyRows(name);
    assert.equal(quality.length, accuracy.length);
    assert.deepEqual(sortedCanon(quality), sortedCanon(accuracy));

    // The same input again: the same records, and every row rewritten in place (no twins).
    const writtenAt = (table: string) =>
      query<{ first: Date; last: Date }>(`SELECT min(written_at) AS first, max(written_at) AS last FROM ${table} WHERE model = $1`, [name]).then((r) => r[0]!);
    const before = { drift: await writtenAt('rtml_drift'), accuracy: await writtenAt('rtml_accuracy') };
    const again = await monitorRun();
    assert.deepEqual(sortedCanon(again.drift), sortedCanon(drift));
    assert.deepEqual(await driftRows(name), rows);
    assert.deepEqual(await accuracyRows(name), quality);
    assert.ok((await writtenAt('rtml_drift')).first > before.drift.last, 'every drift row was written again');
    assert.ok((await writtenAt('rtml_accuracy')).first > before.accuracy.last, 'every accuracy row was written again');
  });

  it('--follow --metrics-port 0 on log sources: drift and accuracy gauges per version, updated as predictions arrive; SIGTERM stops it', async (t) => {
    const name = uniqueModel('monitor');
    await registerModel(t, name);
    const topics = { predictions: join(files.dir, `${name}-predictions`), outcomes: join(files.dir, `${name}-outcomes`) };
    // Both sorted by time: the first batch is what happened before the shift.
    const shift = T0 + SHIFT_AT * MINUTE;
    const first = { p: predictions.filter((p) => p.ts < shift), o: outcomes.filter((o) => o.ts < shift) };
    appendLines(topics.predictions, first.p.map((p) => JSON.stringify(p)));
    appendLines(topics.outcomes, first.o.map((o) => JSON.stringify(o)));
    const live = await startLive(t, [
      'monitor', name,
      '--source', `predictions=log:${topics.predictions}`, '--source', `outcomes=log:${topics.outcomes}`,
      '--label', 'is_fraud', '--label-within', '10s', '--window', '1m',
      '--registry', POSTGRES_URI, '--artifacts', artifacts, '--follow', '--metrics-port', '0', '--no-progress',
    ]);
    const labels = `topology="monitor-${name}",model="${name}",version="v1"`;
    const gauge = {
      ks: (s: string) => seriesValue(s, `rtml_feature_drift{${labels},feature="amount",test="ks"}`),
      share: (s: string) => seriesValue(s, `rtml_model_drift_share{${labels}}`),
      labelled: (s: string) => seriesValue(s, `rtml_model_accuracy{${labels},metric="labelled"}`),
      auc: (s: string) => seriesValue(s, `rtml_model_accuracy{${labels},metric="auc"}`),
    };
    // Minutes 0–2 read: W ≈ 2:40, so windows 0 and 1 fire (accuracy: W − 10 s, still past 2:00); the gauges hold window 1's values.
    const window1 = expected[1]!.labelled;
    const auc1 = rocAuc(window1.map(label), window1.map((p) => p.score));
    let text = await scrapeUntil(live, 'drift and accuracy gauges of window 1', (s) => gauge.share(s) !== undefined && gauge.labelled(s) === window1.length && gauge.auc(s) === auc1);
    assert.ok(gauge.share(text)! < 0.5, `no drift before the shift: share ${gauge.share(text)}`);
    assert.ok(gauge.ks(text)! > 0 && gauge.ks(text)! < 1, 'the KS statistic D of amount');

    // The rest (the shifted minutes) arrives while it runs: the share goes to 1.
    appendLines(topics.predictions, predictions.slice(first.p.length).map((p) => JSON.stringify(p)));
    appendLines(topics.outcomes, outcomes.slice(first.o.length).map((o) => JSON.stringify(o)));
    const fed = predictions.length + outcomes.length;
    text = await scrapeUntil(live, 'every event read and the drift of the shifted windows', (s) => seriesValue(s, `rtml_events_in_total{topology="monitor-${name}"}`) === fed && gauge.share(s) === 1);
    assert.ok(gauge.ks(text)! > 0.3, `amount moved: D ${gauge.ks(text)}`);

    assert.equal(await live.stop(), 0, live.stderr());
    const summary = runSummary(`monitor-${name}`, live.stderr());
    assert.deepEqual([summary.in, summary.late, summary.deadLettered], [fed, 0, 0]);
  });
});
