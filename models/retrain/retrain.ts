import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtmlError, errorMessage, type ErrorCode } from '../../engine/errors.ts';
import { monitoringSchemaOnce } from '../../monitoring/schema.ts';
import type { SqlClient } from '../../storage/index.ts';
import type { Registry } from '../registry/index.ts';
import { compareModels, type Comparison } from './compare.ts';
import { figure } from './metric.ts';
import type { RetrainPolicy } from './policy.ts';
import { trainInWorker } from './trainJob.ts';
import { exportRecent, type TrainingData } from './trainingSet.ts';
import { checkTriggers, type TriggerCheck } from './triggers.ts';

/**
 * One pass of the retraining loop for one policy:
 *
 * 1. **triggers**: drift, accuracy, schedule (triggers.ts); none fired and not forced → skipped.
 * 2. **training set**: the labels of the policy's range joined point-in-time (trainingSet.ts).
 * 3. **train**: on a worker thread (trainJob.ts), so a scoring pipeline beside it does not stall.
 * 4. **register**: a new version, put in staging; its metrics and reference profile come with the bytes.
 * 5. **evaluate**: challenger against the production version on the most recent rows (compare.ts).
 * 6. **decision**: promote the challenger to production when it wins and the policy promotes to
 *    production; otherwise it stays in staging.
 *
 * Each decision is written to the model's audit history (Registry.audit; routing changes write
 * their own events): `retrain_skipped` or `retrain_triggered` with every trigger's reason and
 * figures, `retrain_trained` with the training figures, then `retrain_promoted`,
 * `retrain_approved` (won, left in staging by the policy) or `retrain_rejected` with both models'
 * figures. A step that fails writes `retrain_failed` with the step and the reason, and changes
 * nothing after it: production is only ever changed by the last step.
 */

export interface RetrainDeps {
  readonly registry: Registry;
  /** The database the monitor writes `rtml_drift` and `rtml_accuracy` to. */
  readonly monitoring: SqlClient;
  /** Label rows and point-in-time export, from the feature store. */
  readonly data: TrainingData;
  /** The time the schedule is measured to (default: the clock). */
  readonly now?: () => Date;
  /** Called with each step as it completes (the CLI prints them). */
  readonly onStep?: (step: RetrainStep) => void;
}

export interface RetrainOptions {
  /** Retrain whether or not a trigger fires. */
  readonly force?: boolean;
}

export type StepName = 'triggers' | 'training set' | 'train' | 'register' | 'evaluate' | 'decision';

export interface RetrainStep {
  readonly step: StepName;
  readonly ok: boolean;
  /** What was done or decided and why, in one line: `<model>: …`. */
  readonly line: string;
}

export type RetrainDecision = 'skipped' | 'promoted' | 'approved' | 'rejected' | 'failed';

export interface RetrainOutcome {
  readonly model: string;
  readonly decision: RetrainDecision;
  readonly steps: readonly RetrainStep[];
  readonly triggers: readonly TriggerCheck[];
  /** The production version before the pass. */
  readonly production: number | null;
  /** The version the challenger was registered as (null before the register step). */
  readonly version: number | null;
  readonly comparison: Comparison | null;
  readonly failure: { readonly step: StepName; readonly code: ErrorCode; readonly message: string } | null;
}

/** The audit history's actions for retraining decisions. */
export const RETRAIN_ACTIONS = {
  skipped: 'retrain_skipped',
  triggered: 'retrain_triggered',
  trained: 'retrain_trained',
  promoted: 'retrain_promoted',
  approved: 'retrain_approved',
  rejected: 'retrain_rejected',
  failed: 'retrain_failed',
} as const;

export async function runRetrain(policy: RetrainPolicy, deps: RetrainDeps, options: RetrainOptions = {}): Promise<RetrainOutcome> {
  const { registry } = deps;
  const name = policy.model;
  const steps: RetrainStep[] = [];
  const say = (step: StepName, ok: boolean, text: string) => {
    const s = { step, ok, line: `${name}: ${text}` };
    steps.push(s);
    deps.onStep?.(s);
  };
  const audit = (action: string, detail: Record<string, unknown>) => registry.audit(name, action, detail);

  const routing = await registry.routing(name);
  const production = routing.production === null ? null : await registry.get(name, routing.production);
  const current = production === null ? 'none' : `v${production.version}`;
  const lastAttempt = (await registry.lastEvent(name, RETRAIN_ACTIONS.triggered))?.at ?? null;
  if (policy.triggers.drift !== undefined || policy.triggers.accuracy !== undefined) await monitoringSchemaOnce(deps.monitoring)();
  const triggers = await checkTriggers(policy, { monitoring: deps.monitoring, production, lastAttempt, now: deps.now?.() ?? new Date() });
  const fired = triggers.filter((t) => t.fired);
  const result = { model: name, triggers, production: production?.version ?? null };
  const triggerDetail = { production: result.production, forced: options.force === true, triggers: triggers.map((t) => ({ trigger: t.trigger, fired: t.fired, reason: t.reason, ...t.figures })) };
  if (fired.length === 0 && options.force !== true) {
    await audit(RETRAIN_ACTIONS.skipped, triggerDetail);
    say('triggers', true, `no retrain: ${triggers.map((t) => `${t.trigger}: ${t.reason}`).join('; ')}`);
    return { ...result, decision: 'skipped', steps, version: null, comparison: null, failure: null };
  }
  await audit(RETRAIN_ACTIONS.triggered, triggerDetail);
  const why = fired.map((t) => `${t.trigger} (${t.reason})`).join('; ');
  say('triggers', true, options.force === true ? `retrain forced${fired.length > 0 ? `; fired too: ${why}` : ''}` : `retrain triggered by ${why}`);

  const dir = mkdtempSync(join(tmpdir(), 'rtml-retrain-'));
  // What the steps found so far: a failure's audit event carries it with the reason.
  const found: Record<string, unknown> = {};
  let step: StepName = 'training set';
  let version: number | null = null;
  try {
    const set = await exportRecent(policy, deps.data, dir);
    found.training_set = { labels_in_file: set.labelsInFile, rows: set.rows, from: iso(set.from), to: iso(set.to), missing: set.missing };
    const gaps = Object.entries(set.missing).filter(([, k]) => k > 0).map(([view, k]) => `${view} has no values for ${n(k)}`);
    say('training set', true, `${n(set.rows)} of ${n(set.labelsInFile)} label rows in range (after ${iso(set.from)}, to ${iso(set.to)}), joined point-in-time with ${policy.data.views.join(', ')}${gaps.length > 0 ? ` (${gaps.join('; ')})` : ''}`);

    step = 'train';
    const championGap = production === null ? [] : production.features.filter((f) => !set.columns.includes(f));
    const sameFeatures = production === null || same(production.features, policy.training.features);
    const { trained, challengerRows, championRows } = await trainInWorker({
      trainingSet: set.file,
      label: policy.training.label,
      features: policy.training.features,
      params: policy.training.params,
      holdout: policy.evaluation.holdout,
      championFeatures: sameFeatures || championGap.length > 0 ? null : production.features,
    });
    const { metrics } = trained;
    found.training = { rows: trained.rows, train_rows: trained.trainRows, held_out_rows: trained.heldOutRows, trees: trained.trees, seconds: trained.seconds, metrics };
    await audit(RETRAIN_ACTIONS.trained, found);
    say('train', true, `trained ${trained.trees} trees on ${n(trained.trainRows)} rows in ${trained.seconds.toFixed(2)}s; on its ${n(trained.heldOutRows)} held-out rows auc ${figure(metrics.held_out_auc)}, logloss ${figure(metrics.held_out_logloss)}`);

    step = 'register';
    const file = join(dir, 'challenger.onnx');
    writeFileSync(file, trained.bytes);
    const registered = await registry.register(name, file);
    const challenger = registered.version;
    version = challenger.version;
    const isProduction = challenger.version === production?.version;
    if (!isProduction) await registry.promote(name, challenger.version, 'staging');
    found.version = challenger.version;
    found.created = registered.created;
    say('register', true, `${registered.created ? 'registered' : 'the same bytes are already'} v${challenger.version} (sha256 ${challenger.sha256.slice(0, 12)})${isProduction ? ', the production version' : ', in staging'}`);

    step = 'evaluate';
    if (isProduction) {
      await audit(RETRAIN_ACTIONS.rejected, { ...found, reason: 'the challenger has the bytes of the production version' });
      say('decision', true, `v${challenger.version} is the production version itself (the same training data gives the same model): nothing to promote`);
      return { ...result, decision: 'rejected', steps, version, comparison: null, failure: null };
    }
    if (championGap.length > 0) {
      throw new RtmlError('RTML_E_TRAIN', `production ${current} takes feature(s) the training set lacks (${championGap.join(', ')}), so it cannot be scored against the challenger`);
    }
    const { metric, margin } = policy.evaluation;
    const comparison = await compareModels(
      metric,
      margin,
      { version: challenger.version, bytes: registry.readArtifact(challenger), rows: challengerRows },
      production === null ? null : { version: production.version, bytes: registry.readArtifact(production), rows: championRows ?? challengerRows },
    );
    const figures = { ...found, metric: metric.name, margin, evaluation_rows: comparison.rows, challenger: comparison.challenger, champion: comparison.champion };
    say('evaluate', true, `on the ${n(comparison.rows)} most recent rows: ${versus(comparison)}`);

    step = 'decision';
    if (!comparison.wins) {
      await audit(RETRAIN_ACTIONS.rejected, figures);
      say('decision', true, `v${version} stays in staging: it does not beat production ${current} by the margin ${figure(margin)}`);
      return { ...result, decision: 'rejected', steps, version, comparison, failure: null };
    }
    if (policy.promotion === 'staging') {
      await audit(RETRAIN_ACTIONS.approved, figures);
      say('decision', true, `v${version} wins and stays in staging (the policy promotes to staging): rtml models promote ${name} ${version} --stage production`);
      return { ...result, decision: 'approved', steps, version, comparison, failure: null };
    }
    await registry.promote(name, challenger.version, 'production');
    await audit(RETRAIN_ACTIONS.promoted, figures);
    say('decision', true, `promoted v${version} to production (was ${current}); rtml models rollback ${name} undoes it`);
    return { ...result, decision: 'promoted', steps, version, comparison, failure: null };
  } catch (err) {
    const failure = { step, code: err instanceof RtmlError ? err.code : ('RTML_E_TRAIN' as const), message: errorMessage(err) };
    await audit(RETRAIN_ACTIONS.failed, { ...found, step, code: failure.code, reason: failure.message, production: result.production });
    say(step, false, `${step} failed: ${failure.message}; production stays ${current}`);
    return { ...result, decision: 'failed', steps, version, comparison: null, failure };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function versus(c: Comparison): string {
  const challenger = `challenger v${c.challenger.version} ${c.metric} ${figure(c.challenger.value)}`;
  if (c.champion === null) return `${challenger}; no production version to beat`;
  return `${challenger} vs production v${c.champion.version} ${figure(c.champion.value)} (margin ${figure(c.margin)})`;
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}
