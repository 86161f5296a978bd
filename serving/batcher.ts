import { RtmlError, errorMessage } from '../engine/errors.ts';
import { scoreBatch } from '../engine/scoring/scoreBatch.ts';
import type { OnlineFeatures, OnlineStore } from '../connectors/features/stores.ts';
import type { PredictionTap } from '../engine/predictionTap.ts';
import type { RegistryModel, RegistryModelHandle } from '../models/registry/index.ts';
import { describeJson, type Instance } from './instances.ts';
import type { ServingMetrics } from './metrics.ts';

export interface Prediction {
  readonly score: number;
  readonly label: 0 | 1;
  readonly model: string;
  readonly version: string;
}

/** Rows of one request, scored together and answered together. */
export interface Job {
  readonly handle: RegistryModelHandle;
  /** An explicit version (`/v2/models/{name}/versions/{v}/infer`); else the routing decides per entity. */
  readonly pinned: RegistryModel | null;
  readonly instances: readonly Instance[];
  /** Prefix of messages about instance i ('' for one-instance requests). */
  readonly where: (index: number) => string;
  done(predictions: Prediction[]): void;
  fail(err: RtmlError): void;
}

export interface BatcherOptions {
  readonly online: OnlineStore;
  readonly metrics: ServingMetrics;
  /** Rows that flush a batch at once, without waiting for the end of the event-loop turn. */
  readonly maxRows: number;
  readonly threshold: number;
  readonly log: (line: string) => void;
  /** Where answers are offered as samples while someone watches (the dashboard's predictions feed). */
  readonly predictions?: PredictionTap;
}

/** How a model's columns are filled: from the request by name, or from an online view `view__field`. */
interface Plan {
  readonly names: readonly string[];
  readonly views: readonly (string | null)[];
  readonly fields: readonly (string | null)[];
}

interface Row {
  readonly job: Job;
  readonly index: number;
  readonly instance: Instance;
  readonly model: RegistryModel;
  readonly shadows: readonly RegistryModel[];
}

/**
 * Coalesces the requests that arrive together into one batch: everything queued during one turn
 * of the event loop (or `maxRows` rows, whichever comes first) costs one online-store round trip
 * per feature view and one model call per version, instead of one of each per request. The wait
 * is bounded by the turn itself: the batch flushes on `setImmediate`, right after the socket reads
 * that filled it. A flush may run while the previous one waits for the store; each flush's routing
 * is read once per request, so a promotion applies between batches: no request sees half of one.
 *
 * Features named `view__field` come from the online view `view` when the request does not give
 * them and names an entity: missing values there (a new entity) score as NaN, which the model
 * routes as it learned. Any other feature must be given, as a number (or null for missing).
 */
export class Batcher {
  private queue: Job[] = [];
  private rows = 0;
  private scheduled = false;
  private readonly plans = new WeakMap<RegistryModel, Plan>();
  private readonly flushNow = () => {
    this.scheduled = false;
    void this.flush();
  };

  constructor(private readonly options: BatcherOptions) {}

  submit(job: Job): void {
    this.queue.push(job);
    this.rows += job.instances.length;
    if (this.rows >= this.options.maxRows) {
      void this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private async flush(): Promise<void> {
    const jobs = this.queue;
    if (jobs.length === 0) return;
    this.queue = [];
    this.rows = 0;
    const rows: Row[] = [];
    const failed = new Set<Job>();
    const fail = (job: Job, err: unknown) => {
      if (failed.has(job)) return;
      failed.add(job);
      job.fail(err instanceof RtmlError ? err : new RtmlError('RTML_E_UNAVAILABLE', errorMessage(err)));
    };
    // view → entity → position in that view's lookup: one round trip per view for the whole batch
    const wanted = new Map<string, Map<string, number>>();
    const lookingUp = new Set<Job>();
    for (const job of jobs) {
      try {
        const routing = job.pinned === null ? job.handle.current() : null;
        const shadows = routing?.shadows ?? [];
        for (let i = 0; i < job.instances.length; i++) {
          const instance = job.instances[i]!;
          const model = job.pinned ?? routing!.serving(instance.entity);
          if (this.collect(instance, model, wanted, job.where(i))) lookingUp.add(job);
          for (const shadow of shadows) this.collect(instance, shadow, wanted, null);
          rows.push({ job, index: i, instance, model, shadows });
        }
      } catch (err) {
        fail(job, err);
      }
    }
    let found = new Map<string, (OnlineFeatures | null)[]>();
    if (wanted.size > 0) {
      try {
        found = await this.lookUp(wanted);
      } catch (err) {
        const reason = `online features unavailable: ${errorMessage(err)}`;
        for (const job of lookingUp) fail(job, new RtmlError(err instanceof RtmlError ? err.code : 'RTML_E_STORE', reason));
      }
    }
    const live = failed.size === 0 ? rows : rows.filter((r) => !failed.has(r.job));
    this.answer(live, this.score(live, wanted, found, fail), failed);
  }

  /** Notes the lookups `instance` needs for `model`; `where` set: refuses missing or ill-typed features (422). */
  private collect(instance: Instance, model: RegistryModel, wanted: Map<string, Map<string, number>>, where: string | null): boolean {
    if (instance.vector !== null) {
      if (instance.vector.length !== model.featureCount && where !== null) {
        throw new RtmlError('RTML_E_FEATURE', `${where}model ${model.name} ${model.version} takes ${model.featureCount} features, got ${instance.vector.length}`);
      }
      return false;
    }
    const plan = this.plan(model);
    let needs = false;
    for (let j = 0; j < plan.names.length; j++) {
      const name = plan.names[j]!;
      const given = instance.features![name];
      if (given !== undefined) {
        if (given !== null && typeof given !== 'number' && where !== null) {
          throw new RtmlError('RTML_E_FEATURE', `${where}feature '${name}' must be a number (or null for missing), got ${describeJson(given)}`);
        }
        continue;
      }
      const view = plan.views[j]!;
      if (view !== null && instance.hasEntity) {
        let entities = wanted.get(view);
        if (entities === undefined) wanted.set(view, (entities = new Map()));
        if (!entities.has(instance.entity)) entities.set(instance.entity, entities.size);
        needs = true;
      } else if (where !== null) {
        throw new RtmlError(
          'RTML_E_FEATURE',
          view === null
            ? `${where}feature '${name}' is missing: model ${model.name} ${model.version} needs it in "features"`
            : `${where}feature '${name}' is missing: give it in "features", or an "entity" to read it from feature view ${view}`,
        );
      }
    }
    return needs;
  }

  private async lookUp(wanted: Map<string, Map<string, number>>): Promise<Map<string, (OnlineFeatures | null)[]>> {
    const views = [...wanted.keys()];
    const results = await Promise.all(
      views.map(async (view) => {
        const started = performance.now();
        const values = await this.options.online.get(view, [...wanted.get(view)!.keys()]);
        this.options.metrics.featureLookup.labels(view).observe((performance.now() - started) / 1000);
        return values;
      }),
    );
    return new Map(views.map((view, i) => [view, results[i]!]));
  }

  /** Writes `instance`'s row for `model` at `offset`; false when a value is missing (only possible for shadows). */
  private fill(instance: Instance, model: RegistryModel, wanted: Map<string, Map<string, number>>, found: Map<string, (OnlineFeatures | null)[]>, out: Float32Array, offset: number): boolean {
    if (instance.vector !== null) {
      if (instance.vector.length !== model.featureCount) return false;
      out.set(instance.vector, offset);
      return true;
    }
    const plan = this.plan(model);
    for (let j = 0; j < plan.names.length; j++) {
      const given = instance.features![plan.names[j]!];
      if (given !== undefined) {
        if (given !== null && typeof given !== 'number') return false;
        out[offset + j] = given === null ? Number.NaN : given;
        continue;
      }
      const view = plan.views[j]!;
      if (view === null || !instance.hasEntity) return false;
      const position = wanted.get(view)?.get(instance.entity);
      const values = position === undefined ? undefined : found.get(view)?.[position];
      const value = values?.values[plan.fields[j]!];
      out[offset + j] = value === null || value === undefined ? Number.NaN : value;
    }
    return true;
  }

  /**
   * Scores the live rows with their serving versions and shadows (engine/scoring/scoreBatch.ts): a
   * failed model call is rescored row by row, so only the requests with a row the model fails on
   * fail; the rest are answered.
   */
  private score(rows: readonly Row[], wanted: Map<string, Map<string, number>>, found: Map<string, (OnlineFeatures | null)[]>, fail: (job: Job, err: unknown) => void): Float32Array {
    const { metrics, threshold } = this.options;
    const result = scoreBatch<RegistryModel>(
      {
        rows: rows.length,
        serving: (p) => rows[p]!.model,
        shadows: (p) => rows[p]!.shadows,
        fill: (p, model, out, offset) => this.fill(rows[p]!.instance, model, wanted, found, out, offset),
      },
      threshold,
      {
        modelCall: (model, n) => metrics.batchRows.labels(model.name, model.version).observe(n),
        modelFailures: () => {}, // each failing request is answered with its error and counted by status
        shadowScored: (shadow, scores, served, disagreed) => {
          const delta = metrics.shadowDelta.labels(shadow.name, shadow.version);
          for (let k = 0; k < scores.length; k++) delta.observe(Math.abs(scores[k]! - served[k]!));
          metrics.shadowPredictions.labels(shadow.name, shadow.version).inc(served.length);
          if (disagreed > 0) metrics.shadowDisagreements.labels(shadow.name, shadow.version).inc(disagreed);
        },
        shadowFailed: (shadow, n, reason) => {
          metrics.shadowFailures.labels(shadow.name, shadow.version).inc(n);
          this.options.log(`rtml: serve: shadow ${shadow.name} ${shadow.version} failed to score: ${reason}`);
        },
      },
    );
    result.errors.forEach((error, p) => {
      if (error === undefined) return;
      const { model, job } = rows[p]!;
      fail(job, new RtmlError('RTML_E_MODEL', `model ${model.name} ${model.version} failed to score: ${error}`));
    });
    return result.scores;
  }

  private answer(rows: readonly Row[], scores: Float32Array, failed: ReadonlySet<Job>): void {
    const { threshold, predictions: tap } = this.options;
    let answers: Prediction[] = [];
    for (let p = 0; p < rows.length; p++) {
      const row = rows[p]!;
      if (failed.has(row.job)) continue;
      const score = scores[p]!;
      const prediction: Prediction = { score, label: score >= threshold ? 1 : 0, model: row.model.name, version: row.model.version };
      answers.push(prediction);
      if (tap?.wants()) tap.publish({ ...prediction, key: row.instance.entity, time: Date.now() });
      if (row.index === row.job.instances.length - 1) {
        row.job.done(answers);
        answers = [];
      }
    }
  }

  private plan(model: RegistryModel): Plan {
    let plan = this.plans.get(model);
    if (plan === undefined) {
      const split = model.features.map((name) => {
        const at = name.indexOf('__');
        return at > 0 && at < name.length - 2 ? [name.slice(0, at), name.slice(at + 2)] : [null, null];
      });
      plan = { names: model.features, views: split.map((s) => s[0]!), fields: split.map((s) => s[1]!) };
      this.plans.set(model, plan);
    }
    return plan;
  }
}
