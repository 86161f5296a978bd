import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { openRetrainDeps } from '../cli/retrain.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import type { FeatureRow } from '../engine/features.ts';
import type { AccuracyMetric, DriftRecord, DriftTest } from '../engine/monitoring/records.ts';
import { monitoringRecorder } from '../monitoring/postgresRecorder.ts';
import { monitoringSchemaOnce } from '../monitoring/schema.ts';
import { scoreWithOnnx } from '../models/onnx/index.ts';
import { openRegistry, type ModelVersion, type Registry, type RoutingEvent } from '../models/registry/index.ts';
import { checkTriggers, loadPolicy, parsePolicy, runRetrain, type RetrainDeps, type RetrainOutcome, type RetrainPolicy } from '../models/retrain/index.ts';
import { auc, featureMatrix } from '../models/training/index.ts';
import type { SqlClient } from '../storage/index.ts';
import { rtml } from './support/cli.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';
import { DAY, T0, cleanMonitoring, offlineView, regime, writeLabels, writePolicy, type LabelRow } from './support/retrain.ts';

const files = tempDir('retrain');
after(() => files.remove());
const ARTIFACTS = join(files.dir, 'artifacts');

const BASE = {
  model: 'fraud',
  triggers: { drift: { windows: 1 } },
  data: { views: ['card_minute'], labels: 'labels.jsonl', range: { last: '7d' } },
  training: { label: 'is_fraud', features: ['amount', 'card_minute__n'] },
};

function policyOf(fields: Record<string, unknown>, file = '/policies/fraud.yaml'): RetrainPolicy {
  return parsePolicy(stringify({ ...BASE, ...fields }), file);
}

describe('retraining policy', () => {
  it('reads every field, relative paths from its own directory, defaults for what it leaves out', () => {
    const p = policyOf({
      triggers: { drift: { windows: 3 }, accuracy: { metric: 'auc', drop: 0.05, min_labelled: 200 }, schedule: { every: '1d' } },
      data: { views: ['card_minute', 'card_hour'], labels: 'data/labels.jsonl', entity: 'card_id', time: 'ts', range: { last: '7d' } },
      training: { label: 'is_fraud', features: ['amount'], trees: 50, depth: 4, learning_rate: 0.2 },
      evaluation: { holdout: 0.1, metric: 'log_loss', margin: 0.02 },
      promotion: { to: 'staging' },
    });
    assert.equal(p.model, 'fraud');
    assert.deepEqual(p.triggers.drift, { windows: 3 });
    assert.equal(p.triggers.accuracy?.metric.name, 'auc');
    assert.deepEqual([p.triggers.accuracy?.bound, p.triggers.accuracy?.worsening, p.triggers.accuracy?.minLabelled], [undefined, 0.05, 200]);
    assert.deepEqual(p.triggers.schedule, { everyMs: DAY });
    assert.deepEqual(p.data, { views: ['card_minute', 'card_hour'], labels: '/policies/data/labels.jsonl', entity: 'card_id', time: 'ts', lastMs: 7 * DAY });
    assert.deepEqual(p.training, { label: 'is_fraud', features: ['amount'], params: { trees: 50, depth: 4, learningRate: 0.2 } });
    assert.deepEqual([p.evaluation.holdout, p.evaluation.metric.name, p.evaluation.margin], [0.1, 'log_loss', 0.02]);
    assert.equal(p.promotion, 'staging');

    const d = policyOf({});
    assert.deepEqual([d.data.entity, d.data.time, d.evaluation.holdout, d.evaluation.metric.name, d.evaluation.margin, d.promotion], ['entity', 'time', 0.2, 'auc', 0, 'production']);
    assert.equal(policyOf({ triggers: { accuracy: { metric: 'log_loss', above: 0.4 } } }).triggers.accuracy?.minLabelled, 100);
  });

  it('refuses a bad policy naming the key to fix', () => {
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ triggers: { drift: { windows: 0 } } }, /fraud\.yaml: triggers\.drift\.windows must be >= 1, got 0$/],
      [{ trigers: {} }, /: trigers is not a policy key \(the policy takes model, triggers, data, training, evaluation, promotion\)$/],
      [{ triggers: { drift: { window: 1 } } }, /: triggers\.drift\.window is not a policy key \(triggers\.drift takes windows\)$/],
      [{ triggers: {} }, /: triggers: name at least one of drift, accuracy, schedule/],
      [{ triggers: { accuracy: { metric: 'auc', above: 0.3 } } }, /: triggers\.accuracy\.above does not apply to auc \(higher is better\): use below or drop$/],
      [{ triggers: { accuracy: { metric: 'auc', below: 0.8, drop: 0.1 } } }, /: triggers\.accuracy: give one of below, drop \(got both\)$/],
      [{ triggers: { accuracy: { metric: 'f1', below: 0.8 } } }, /: triggers\.accuracy\.metric must be one of auc, log_loss, got "f1"$/],
      [{ triggers: { schedule: { every: 'daily' } } }, /triggers\.schedule\.every: "daily" is not a duration/],
      [{ data: { views: ['v'], range: { last: '7d' } } }, /: data\.labels is missing$/],
      [{ data: { views: [], labels: 'l.jsonl', range: { last: '7d' } } }, /: data\.views must NOT have fewer than 1 items, got \[\]$/],
      [{ evaluation: { holdout: 0.5 } }, /: evaluation\.holdout must be <= 0\.2, got 0\.5$/],
      [{ promotion: { to: 'prod' } }, /: promotion\.to must be one of production, staging, got "prod"$/],
    ];
    for (const [fields, message] of refusals) assert.throws(() => policyOf(fields), message, JSON.stringify(fields));
    assert.throws(() => parsePolicy('model: [fraud\n', 'p.yaml'), /^RtmlError: p\.yaml: not YAML: /);
    assert.throws(() => parsePolicy('', 'p.yaml'), /p\.yaml: the policy must be object, got null/);
    assert.throws(() => loadPolicy(join(files.dir, 'none.yaml')), { code: 'RTML_E_USAGE', message: /--policy .*none\.yaml cannot be read/ });
  });
});

/** The audit history as [action, revision, detail] rows, the detail cut to `keys` of each row. */
function trail(events: readonly RoutingEvent[], keys: readonly string[][]): [string, number, Record<string, unknown>][] {
  return events.map((e, i) => [e.action, e.revision, Object.fromEntries((keys[i] ?? []).map((k) => [k, e.detail[k]]))]);
}

/** The audit history without the versions' `register` events: the routing changes and retraining decisions. */
async function decisions(registry: Registry, name: string): Promise<RoutingEvent[]> {
  return (await registry.history(name)).filter((e) => e.action !== 'register');
}

describe('retrain triggers', () => {
  let registry: Registry;
  let recorder: ReturnType<typeof monitoringRecorder>;
  let monitoring: SqlClient;
  before(async () => {
    registry = openRegistry(POSTGRES_URI, ARTIFACTS);
    recorder = monitoringRecorder(POSTGRES_URI);
    monitoring = recorder.sql;
    await monitoringSchemaOnce(monitoring)();
  });
  after(async () => {
    await registry.close();
    await recorder.close();
  });

  /** A model with a production v1 recording held_out_auc 0.9, its history cleaned up after the test. */
  async function production(t: TestContext): Promise<ModelVersion> {
    const name = uniqueModel('trigger');
    cleanModels(t, name);
    cleanMonitoring(t, name);
    const file = writeModel(files.dir, `${name}.onnx`, { seed: 3, metrics: { held_out_auc: 0.9, held_out_logloss: 0.3 } });
    return (await registry.register(name, file, { stage: 'production' })).version;
  }

  const hour = (h: number) => new Date(T0 + h * 3_600_000);

  // Rows written by the monitor's own recorder, as `rtml monitor` writes them.
  async function drift(v: ModelVersion, endHour: number, drifted: boolean, where: { version?: number; feature?: string; test?: DriftTest } = {}): Promise<void> {
    const record: DriftRecord = {
      model: v.name,
      version: `v${where.version ?? v.version}`,
      window_start: hour(endHour - 1).getTime(),
      window_end: hour(endHour).getTime(),
      feature: where.feature ?? '*',
      test: where.test ?? 'drift_share',
      value: drifted ? 0.6 : 0.1,
      p_value: null,
      threshold: 0.3,
      drifted,
      decisive: false,
      n: 1000,
    };
    await recorder.write([record], []);
  }

  async function accuracy(v: ModelVersion, endHour: number, metric: AccuracyMetric, value: number, n: number, version = v.version): Promise<void> {
    await recorder.write([], [{ model: v.name, version: `v${version}`, window_start: hour(endHour - 1).getTime(), window_end: hour(endHour).getTime(), metric, value, n, threshold: 0.5 }]);
  }

  const check = async (v: ModelVersion | null, triggers: Record<string, unknown>, ctx: { lastAttempt?: Date; now?: Date } = {}) =>
    (await checkTriggers(policyOf({ model: v?.name ?? 'none', triggers }), { monitoring, production: v, lastAttempt: ctx.lastAttempt ?? null, now: ctx.now ?? new Date() }))[0]!;

  it('drift: the production version\'s last N windows must all have drifted, and count once', async (t) => {
    const v = await production(t);
    assert.deepEqual(await check(v, { drift: { windows: 2 } }), { trigger: 'drift', fired: false, reason: 'v1 has 0 monitored window(s); the trigger needs 2', figures: { version: 1, windows: [] } });
    await drift(v, 1, true);
    await drift(v, 2, false);
    await drift(v, 3, true, { feature: 'amount' }); // another feature, another test, another version: not the window's verdict
    await drift(v, 3, true, { test: 'dead_letter_rate' });
    await drift(v, 3, true, { version: 2 });
    assert.equal((await check(v, { drift: { windows: 1 } })).fired, false);
    assert.match((await check(v, { drift: { windows: 2 } })).reason, /^1 of the last 2 window\(s\) of v1 \(to 2024-01-01T02:00:00\.000Z\) drifted$/);
    await drift(v, 3, true);
    const one = await check(v, { drift: { windows: 1 } });
    assert.equal(one.fired, true);
    assert.equal(one.reason, 'the last 1 window(s) of v1 (to 2024-01-01T03:00:00.000Z) all drifted (drift share 0.6 ≥ 0.3)');
    assert.deepEqual(one.figures, { version: 1, windows: [{ start: hour(2).toISOString(), end: hour(3).toISOString(), drift_share: 0.6, threshold: 0.3, drifted: true }] });
    assert.equal((await check(v, { drift: { windows: 2 } })).fired, false);
    await drift(v, 4, true);
    assert.equal((await check(v, { drift: { windows: 2 } })).fired, true);
    // A retrain triggered after these windows were written has acted on them; one before has not.
    const acted = await check(v, { drift: { windows: 2 } }, { lastAttempt: new Date(Date.now() + 1000) });
    assert.deepEqual([acted.fired, acted.reason], [false, 'the last 2 window(s) of v1 (to 2024-01-01T04:00:00.000Z) drifted, but a retrain already followed them']);
    assert.equal((await check(v, { drift: { windows: 2 } }, { lastAttempt: new Date(Date.now() - 60_000) })).fired, true);
    assert.equal((await check(null, { drift: { windows: 1 } })).reason, 'no production version to monitor');
  });

  it('accuracy: the latest window with enough labels, below a bound or dropped from the recorded figure', async (t) => {
    const v = await production(t);
    assert.equal((await check(v, { accuracy: { metric: 'auc', below: 0.85 } })).reason, `no window of v1 has auc from 100 or more labelled events`);
    await accuracy(v, 1, 'auc', 0.8, 500);
    await accuracy(v, 2, 'auc', 0.99, 50); // too few labels: passed over
    await accuracy(v, 3, 'auc', 0.5, 900, 2); // another version
    const below = await check(v, { accuracy: { metric: 'auc', below: 0.85 } });
    assert.deepEqual([below.fired, below.reason], [true, 'auc 0.8 of v1 in the window to 2024-01-01T01:00:00.000Z (500 labelled) is below 0.85']);
    assert.deepEqual(below.figures, { version: 1, metric: 'auc', value: 0.8, labelled: 500, window_start: hour(0).toISOString(), window_end: hour(1).toISOString(), below: 0.85 });
    assert.equal((await check(v, { accuracy: { metric: 'auc', below: 0.85, min_labelled: 40 } })).fired, false, 'with min_labelled 40 the latest window (0.99) decides');

    await accuracy(v, 4, 'auc', 0.86, 300);
    assert.equal((await check(v, { accuracy: { metric: 'auc', below: 0.85 } })).fired, false);
    const small = await check(v, { accuracy: { metric: 'auc', drop: 0.05 } });
    assert.deepEqual([small.fired, small.reason], [false, 'auc 0.86 of v1 in the window to 2024-01-01T04:00:00.000Z (300 labelled) is 0.04 worse than its held_out_auc 0.9 (trigger: drop 0.05)']);
    await accuracy(v, 5, 'auc', 0.85, 300); // 0.9 − 0.85: exactly the drop
    const dropped = await check(v, { accuracy: { metric: 'auc', drop: 0.05 } });
    assert.equal(dropped.fired, true);
    assert.equal(dropped.figures.recorded, 0.9);

    await accuracy(v, 5, 'log_loss', 0.45, 300);
    assert.equal((await check(v, { accuracy: { metric: 'log_loss', above: 0.5 } })).fired, false);
    const rise = await check(v, { accuracy: { metric: 'log_loss', rise: 0.1 } });
    assert.deepEqual([rise.fired, rise.reason], [true, 'log_loss 0.45 of v1 in the window to 2024-01-01T05:00:00.000Z (300 labelled) is 0.15 worse than its held_out_logloss 0.3 (trigger: rise 0.1)']);
    assert.equal((await check(v, { accuracy: { metric: 'auc', drop: 0.05 } }, { lastAttempt: new Date(Date.now() + 1000) })).fired, false, 'a window already acted on');
  });

  it('schedule: measured from the last retrain, else from when production was registered', async (t) => {
    const v = await production(t);
    const every = { schedule: { every: '1d' } };
    const now = v.createdAt.getTime();
    const fresh = await check(v, every, { now: new Date(now + 3_600_000) });
    assert.deepEqual([fresh.fired, fresh.reason], [false, `1 h since v1 was registered (${v.createdAt.toISOString()}); the schedule retrains every 1 d`]);
    assert.equal((await check(v, every, { now: new Date(now + DAY) })).fired, true);
    const last = new Date(now + 10 * DAY);
    const since = await check(v, every, { now: new Date(now + 10.5 * DAY), lastAttempt: last });
    assert.deepEqual([since.fired, since.reason], [false, `12 h since the last retrain (${last.toISOString()}); the schedule retrains every 1 d`]);
    assert.equal((await check(v, every, { now: new Date(now + 11 * DAY), lastAttempt: last })).fired, true);
    assert.deepEqual(await check(null, every), { trigger: 'schedule', fired: true, reason: 'no retrain and no production version yet', figures: { every_ms: DAY } });
  });

  it('a pass where nothing fires is audited as retrain_skipped with every reason, routing untouched', async (t) => {
    const v = await production(t);
    const policy = policyOf({ model: v.name, triggers: { drift: { windows: 1 }, schedule: { every: '7d' } } });
    const data = { readLabels: () => assert.fail('a skipped pass reads no labels'), exportTrainingSet: () => assert.fail('nor exports') };
    const outcome = await runRetrain(policy, { registry, monitoring, data });
    assert.equal(outcome.decision, 'skipped');
    assert.equal(outcome.steps.length, 1);
    assert.match(outcome.steps[0]!.line, new RegExp(`^${v.name}: no retrain: drift: v1 has 0 monitored window\\(s\\); the trigger needs 1; schedule: [\\d.]+ min since v1 was registered \\(${v.createdAt.toISOString()}\\); the schedule retrains every 7 d$`));
    const history = await decisions(registry, v.name);
    assert.deepEqual(trail(history, [['stage', 'to'], ['production', 'forced']]), [
      ['promote', 1, { stage: 'production', to: 1 }],
      ['retrain_skipped', 1, { production: 1, forced: false }],
    ]);
    const triggers = history[1]!.detail.triggers as { trigger: string; fired: boolean; reason: string }[];
    assert.deepEqual(triggers.map((x) => [x.trigger, x.fired]), [['drift', false], ['schedule', false]]);
    assert.equal((await registry.routing(v.name)).revision, 1);
  });
});

describe('retrain passes', () => {
  let store: OfflineStore;
  let deps: RetrainDeps;
  let close: () => Promise<void>;
  before(() => {
    store = postgresOffline(POSTGRES_URI);
    ({ deps, close } = openRetrainDeps({ registry: POSTGRES_URI, artifacts: ARTIFACTS, offline: POSTGRES_URI }));
  });
  after(async () => {
    await store.close();
    await close();
  });

  // The label follows x1 in the first week and x2 in the second: a model of the first week is no
  // better than chance on the second.
  const OLD = regime({ from: T0, days: 7, rows: 1000, signal: 'x1', seed: 1 });
  const RECENT = regime({ from: T0 + 7 * DAY, days: 7, rows: 1000, signal: 'x2', seed: 2 });

  async function setUp(t: TestContext, prefix: string, more: readonly FeatureRow[] = []): Promise<{ name: string; view: string }> {
    const name = uniqueModel(prefix);
    cleanModels(t, name);
    const view = await offlineView(t, store, [...OLD.features, ...RECENT.features, ...more]);
    return { name, view: view.name };
  }

  const load = (name: string, view: string, labels: readonly LabelRow[], extra: Record<string, unknown> = {}) =>
    loadPolicy(writePolicy(files.dir, `${name}-${Math.random().toString(36).slice(2)}.yaml`, name, view, writeLabels(files.dir, `${name}-${Math.random().toString(36).slice(2)}.jsonl`, labels), extra));

  it('a challenger trained on the recent range beats the production model on the recent rows and is promoted', async (t) => {
    const { name, view } = await setUp(t, 'win');
    const { registry } = deps;

    // First pass: no production version, the schedule fires, whatever trains is promoted.
    const first = await runRetrain(load(name, view, OLD.labels), deps);
    assert.equal(first.decision, 'promoted');
    assert.deepEqual([first.version, first.comparison?.champion], [1, null]);

    // Second pass, a day later, over both weeks: the last 7 days are the second week only.
    const later = { ...deps, now: () => new Date(Date.now() + 2 * DAY) };
    const both = [...OLD.labels, ...RECENT.labels];
    const staged = await runRetrain(load(name, view, both, { promotion: { to: 'staging' } }), later);
    assert.equal(staged.decision, 'approved');
    assert.deepEqual((await registry.routing(name)).production, 1);
    const c = staged.comparison!;
    assert.ok(c.challenger.value > 0.8 && c.champion!.value < 0.6, JSON.stringify(c));
    assert.equal(c.rows, 200);

    // The figures are the registered artifacts' ONNX scores of the last 200 labels of the second week.
    const recentRows = RECENT.features.slice(800);
    const matrix = featureMatrix(['x1', 'x2'], 200, Float64Array.from(recentRows.flatMap((r) => [r.values.x1 as number, r.values.x2 as number])));
    const labels = RECENT.labels.slice(800).map((l) => l.y);
    for (const v of [c.challenger, c.champion!]) {
      assert.equal(auc(labels, await scoreWithOnnx(registry.readArtifact(await registry.get(name, v.version)), matrix)), v.value);
    }

    // Third pass, forced, promoting to production: the same bytes are v2 again, and now promoted.
    const promoted = await runRetrain(load(name, view, both), later, { force: true });
    assert.equal(promoted.decision, 'promoted');
    assert.deepEqual(promoted.comparison, c);
    assert.deepEqual(promoted.steps.map((s) => s.step), ['triggers', 'training set', 'train', 'register', 'evaluate', 'decision']);
    assert.match(promoted.steps[1]!.line, /: 1,000 of 2,000 label rows in range \(after 2024-01-07T23:49:55\.200Z, to 2024-01-14T23:49:55\.200Z\), joined point-in-time with t_retrain_/);
    assert.match(promoted.steps[3]!.line, /: the same bytes are already v2 \(sha256 [0-9a-f]{12}\), in staging$/);
    assert.match(promoted.steps[4]!.line, /: on the 200 most recent rows: challenger v2 auc 0\.\d+ vs production v1 0\.\d+ \(margin 0\.01\)$/);
    assert.equal(promoted.steps[5]!.line, `${name}: promoted v2 to production (was v1); rtml models rollback ${name} undoes it`);
    const routing = await registry.routing(name);
    assert.deepEqual([routing.production, routing.productionHistory, routing.staging], [2, [1, 2], []]);

    const history = await decisions(registry, name);
    assert.deepEqual(
      trail(history, [
        ['production', 'forced'],
        [],
        ['stage', 'to'],
        ['stage', 'from', 'to'],
        ['version', 'champion'],
        ['production', 'forced'],
        [],
        ['stage', 'to'],
        ['version', 'margin', 'evaluation_rows'],
        ['production', 'forced'],
        [],
        ['stage', 'from', 'to'],
        ['version', 'created', 'challenger', 'champion'],
      ]),
      [
        ['retrain_triggered', 0, { production: null, forced: false }],
        ['retrain_trained', 0, {}],
        ['promote', 1, { stage: 'staging', to: 1 }],
        ['promote', 2, { stage: 'production', from: null, to: 1 }],
        ['retrain_promoted', 2, { version: 1, champion: null }],
        ['retrain_triggered', 2, { production: 1, forced: false }],
        ['retrain_trained', 2, {}],
        ['promote', 3, { stage: 'staging', to: 2 }],
        ['retrain_approved', 3, { version: 2, margin: 0.01, evaluation_rows: 200 }],
        ['retrain_triggered', 3, { production: 1, forced: true }],
        ['retrain_trained', 3, {}],
        ['promote', 4, { stage: 'production', from: 1, to: 2 }],
        ['retrain_promoted', 4, { version: 2, created: false, challenger: c.challenger, champion: c.champion }],
      ],
    );
    const trained = history[6]!.detail as { training_set: Record<string, unknown>; training: Record<string, unknown> };
    assert.deepEqual(trained.training_set, { labels_in_file: 2000, rows: 1000, from: '2024-01-07T23:49:55.200Z', to: '2024-01-14T23:49:55.200Z', missing: { [view]: 0 } });
    assert.deepEqual([trained.training.rows, trained.training.train_rows, trained.training.held_out_rows, trained.training.trees], [1000, 800, 200, 30]);
    const triggered = history[5]!.detail.triggers as { trigger: string; fired: boolean; reason: string }[];
    assert.deepEqual(triggered.map((x) => [x.trigger, x.fired]), [['schedule', true]]);
    assert.match(triggered[0]!.reason, new RegExp(`^2 d since the last retrain \\(${history[0]!.at.toISOString()}\\)`), 'measured from the first pass');
  });

  it('a challenger that does not beat production by the margin is registered in staging, not promoted', async (t) => {
    const { name, view } = await setUp(t, 'lose');
    const { registry } = deps;
    assert.equal((await runRetrain(load(name, view, RECENT.labels), deps, { force: true })).decision, 'promoted');
    // One stump: two distinct scores, far from the 30 trees of v1 on the same rows.
    const weak = await runRetrain(load(name, view, RECENT.labels, { training: { label: 'y', features: [`${view}__x1`, `${view}__x2`], trees: 1, depth: 1 } }), deps, { force: true });
    assert.equal(weak.decision, 'rejected');
    const c = weak.comparison!;
    assert.ok(c.challenger.value < c.champion!.value - 0.05, JSON.stringify(c));
    assert.equal(weak.steps.at(-1)!.line, `${name}: v2 stays in staging: it does not beat production v1 by the margin 0.01`);
    const routing = await registry.routing(name);
    assert.deepEqual([routing.production, routing.staging], [1, [2]]);

    // The first policy again: the same rows train the same bytes, the production version itself.
    const again = await runRetrain(load(name, view, RECENT.labels), deps, { force: true });
    assert.deepEqual([again.decision, again.version, again.comparison], ['rejected', 1, null]);
    assert.match(again.steps.at(-1)!.line, /: v1 is the production version itself/);

    assert.deepEqual(
      trail((await decisions(registry, name)).slice(5), [['production'], [], ['stage', 'to'], ['version', 'created', 'challenger', 'champion'], ['production'], [], ['version', 'created', 'reason']]),
      [
        ['retrain_triggered', 2, { production: 1 }],
        ['retrain_trained', 2, {}],
        ['promote', 3, { stage: 'staging', to: 2 }],
        ['retrain_rejected', 3, { version: 2, created: true, challenger: c.challenger, champion: c.champion }],
        ['retrain_triggered', 3, { production: 1 }],
        ['retrain_trained', 3, {}],
        ['retrain_rejected', 3, { version: 1, created: false, reason: 'the challenger has the bytes of the production version' }],
      ],
    );
    assert.deepEqual((await registry.list(name)).map((v) => v.version), [1, 2]);
  });

  it('a step that fails is audited with its reason and leaves production as it was', async (t) => {
    const ones = regime({ from: T0 + 7 * DAY, days: 7, rows: 300, signal: 'x2', seed: 3, constant: 0 });
    const { name, view } = await setUp(t, 'fail', ones.features);
    const { registry } = deps;
    assert.equal((await runRetrain(load(name, view, RECENT.labels), deps, { force: true })).decision, 'promoted');
    const before = await registry.routing(name);

    // The label file disappears before the pass reads it.
    const gone = load(name, view, RECENT.labels);
    rmSync(gone.data.labels);
    const noLabels = await runRetrain(gone, deps, { force: true });
    assert.deepEqual([noLabels.decision, noLabels.failure?.step, noLabels.failure?.code], ['failed', 'training set', 'RTML_E_USAGE']);
    assert.match(noLabels.steps.at(-1)!.line, new RegExp(`^${name}: training set failed: .*ENOENT.*; production stays v1$`));

    // Every label in range is 0: nothing to train a classifier on.
    const oneClass = await runRetrain(load(name, view, ones.labels), deps, { force: true });
    assert.deepEqual([oneClass.decision, oneClass.failure?.step], ['failed', 'train']);
    assert.match(oneClass.failure!.message, /every training label is 0/);

    // Trained on x1 alone: the registry refuses a feature list that differs from v1's.
    const narrower = await runRetrain(load(name, view, RECENT.labels, { training: { label: 'y', features: [`${view}__x1`], trees: 5, depth: 2 } }), deps, { force: true });
    assert.deepEqual([narrower.decision, narrower.failure?.step, narrower.failure?.code], ['failed', 'register', 'RTML_E_REGISTRY']);

    assert.deepEqual(await registry.routing(name), before);
    assert.deepEqual((await registry.list(name)).map((v) => v.version), [1]);
    const failures = (await decisions(registry, name)).slice(5);
    assert.deepEqual(
      trail(failures, [['forced'], ['step', 'code', 'production'], ['forced'], ['step', 'code', 'production'], [], [], ['step', 'code']]),
      [
        ['retrain_triggered', 2, { forced: true }],
        ['retrain_failed', 2, { step: 'training set', code: 'RTML_E_USAGE', production: 1 }],
        ['retrain_triggered', 2, { forced: true }],
        ['retrain_failed', 2, { step: 'train', code: 'RTML_E_TRAIN', production: 1 }],
        ['retrain_triggered', 2, {}],
        ['retrain_trained', 2, {}],
        ['retrain_failed', 2, { step: 'register', code: 'RTML_E_REGISTRY' }],
      ],
    );
    assert.match(failures[1]!.detail.reason as string, /ENOENT/);
    assert.equal((failures[3]!.detail.training_set as { rows: number }).rows, 300, 'the failure keeps what the steps before it found');
  });
});

describe('rtml retrain', () => {
  it('prints a line per step; a failed pass exits non-zero with one line (and --json prints the outcome)', async (t) => {
    const name = uniqueModel('cli');
    cleanModels(t, name);
    const store = postgresOffline(POSTGRES_URI);
    t.after(() => store.close());
    const data = regime({ from: T0, days: 7, rows: 600, signal: 'x2', seed: 4 });
    const view = await offlineView(t, store, data.features);
    const labels = writeLabels(files.dir, `${name}.jsonl`, data.labels);
    const policy = writePolicy(files.dir, `${name}.yaml`, name, view.name, labels);
    const flags = ['--policy', policy, '--registry', POSTGRES_URI, '--offline', POSTGRES_URI, '--monitor-db', POSTGRES_URI, '--artifacts', ARTIFACTS];

    const ok = await rtml(['retrain', ...flags]);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 6, ok.stdout);
    assert.equal(lines[0], `${name}: retrain triggered by schedule (no retrain and no production version yet)`);
    assert.match(lines[2]!, /: trained 30 trees on 480 rows in [\d.]+s; on its 120 held-out rows auc 0\.\d+, logloss 0\.\d+$/);
    assert.equal(lines[5], `${name}: promoted v1 to production (was none); rtml models rollback ${name} undoes it`);

    rmSync(labels);
    const failed = await rtml(['retrain', ...flags, '--force', '--json']);
    assert.equal(failed.code, 1);
    const outcome = JSON.parse(failed.stdout) as RetrainOutcome;
    assert.deepEqual([outcome.decision, outcome.production, outcome.failure?.step, outcome.steps.map((s) => s.line)[0]], ['failed', 1, 'training set', `${name}: retrain forced`]);
    assert.match(failed.stderr, new RegExp(`^rtml: error RTML_E_USAGE \\(bad command-line usage\\): ${name}: training set failed: .*ENOENT.*; production stays v1\\n$`));
  });
});
