import { ACCURACY_TABLE, DRIFT_TABLE } from '../../monitoring/schema.ts';
import type { SqlQuery } from '../../storage/index.ts';
import type { ModelVersion } from '../registry/index.ts';
import { atLeast, figure, improvement } from './metric.ts';
import type { AccuracyTrigger, RetrainPolicy } from './policy.ts';

/**
 * Whether a policy's triggers fire, each with its reason and figures, from the monitoring history
 * (`rtml_drift`, `rtml_accuracy`) of the production version and the model's audit history.
 *
 * Monitoring evidence counts once: a window written before the last retrain attempt has already
 * been acted on (promoted or not), so it does not fire again — only a newer window does. Without
 * that, a drifted production version whose challenger lost would retrain on every check.
 */

export type TriggerName = 'drift' | 'accuracy' | 'schedule';

export interface TriggerCheck {
  readonly trigger: TriggerName;
  readonly fired: boolean;
  /** Why it fired or not, with the figures, in words. */
  readonly reason: string;
  readonly figures: Readonly<Record<string, unknown>>;
}

export interface TriggerContext {
  /** The database holding the monitoring history (tables created). */
  readonly monitoring: SqlQuery;
  readonly production: ModelVersion | null;
  /** When the last retrain was triggered (its audit event); null when none was. */
  readonly lastAttempt: Date | null;
  readonly now: Date;
}

export async function checkTriggers(policy: RetrainPolicy, ctx: TriggerContext): Promise<TriggerCheck[]> {
  const { drift, accuracy, schedule } = policy.triggers;
  const checks: TriggerCheck[] = [];
  if (drift !== undefined) checks.push(await checkDrift(policy.model, drift.windows, ctx));
  if (accuracy !== undefined) checks.push(await checkAccuracy(policy.model, accuracy, ctx));
  if (schedule !== undefined) checks.push(checkSchedule(schedule.everyMs, ctx));
  return checks;
}

async function checkDrift(model: string, windows: number, ctx: TriggerContext): Promise<TriggerCheck> {
  const check = (fired: boolean, reason: string, figures: Record<string, unknown> = {}): TriggerCheck => ({ trigger: 'drift', fired, reason, figures });
  const v = ctx.production;
  if (v === null) return check(false, 'no production version to monitor');
  const { rows } = await ctx.monitoring.query(
    `SELECT window_start, window_end, value, threshold, drifted, written_at FROM ${DRIFT_TABLE} ` +
      `WHERE model = $1 AND version = $2 AND feature = '*' AND test = 'drift_share' ORDER BY window_end DESC LIMIT $3`,
    [model, monitoredVersion(v), windows],
  );
  const recent = rows.map((r) => ({
    start: time(r.window_start),
    end: time(r.window_end),
    drift_share: r.value === null ? null : Number(r.value),
    threshold: r.threshold === null ? null : Number(r.threshold),
    drifted: r.drifted === true,
    written: time(r.written_at),
  }));
  const figures = { version: v.version, windows: recent.map(({ written: _, ...w }) => ({ ...w, start: w.start.toISOString(), end: w.end.toISOString() })) };
  if (recent.length < windows) return check(false, `v${v.version} has ${recent.length} monitored window(s); the trigger needs ${windows}`, figures);
  const drifted = recent.filter((w) => w.drifted).length;
  const span = `the last ${windows} window(s) of v${v.version} (to ${recent[0]!.end.toISOString()})`;
  if (drifted < windows) return check(false, `${drifted} of ${span} drifted`, figures);
  const shares = recent.map((w) => `${figure(w.drift_share)} ≥ ${figure(w.threshold)}`).join(', ');
  if (actedOn(recent[0]!.written, ctx)) return check(false, `${span} drifted, but a retrain already followed them`, figures);
  return check(true, `${span} all drifted (drift share ${shares})`, figures);
}

async function checkAccuracy(model: string, trigger: AccuracyTrigger, ctx: TriggerContext): Promise<TriggerCheck> {
  const check = (fired: boolean, reason: string, figures: Record<string, unknown> = {}): TriggerCheck => ({ trigger: 'accuracy', fired, reason, figures });
  const v = ctx.production;
  const { metric } = trigger;
  if (v === null) return check(false, 'no production version to monitor');
  const { rows } = await ctx.monitoring.query(
    `SELECT window_start, window_end, value, n, written_at FROM ${ACCURACY_TABLE} ` +
      'WHERE model = $1 AND version = $2 AND metric = $3 AND n >= $4 AND value IS NOT NULL ORDER BY window_end DESC LIMIT 1',
    [model, monitoredVersion(v), metric.name, trigger.minLabelled],
  );
  const r = rows[0];
  if (r === undefined) return check(false, `no window of v${v.version} has ${metric.name} from ${trigger.minLabelled} or more labelled events`);
  const value = Number(r.value);
  const end = time(r.window_end);
  const figures: Record<string, unknown> = { version: v.version, metric: metric.name, value, labelled: Number(r.n), window_start: time(r.window_start).toISOString(), window_end: end.toISOString() };
  const seen = `${metric.name} ${figure(value)} of v${v.version} in the window to ${end.toISOString()} (${Number(r.n)} labelled)`;
  let worse: boolean;
  let against: string;
  if (trigger.bound !== undefined) {
    figures[metric.boundKey] = trigger.bound;
    worse = improvement(metric, value, trigger.bound) < 0;
    against = `${worse ? 'is' : 'is not'} ${metric.boundKey} ${figure(trigger.bound)}`;
  } else {
    const recorded = v.metrics?.[metric.recorded];
    if (typeof recorded !== 'number') return check(false, `${seen}: v${v.version} records no ${metric.recorded} to compare with`, figures);
    const worsening = -improvement(metric, value, recorded);
    Object.assign(figures, { recorded, [metric.worseningKey]: worsening });
    worse = atLeast(worsening, trigger.worsening!);
    against = `is ${figure(Math.abs(worsening))} ${worsening >= 0 ? 'worse' : 'better'} than its ${metric.recorded} ${figure(recorded)} (trigger: ${metric.worseningKey} ${figure(trigger.worsening!)})`;
  }
  if (worse && actedOn(time(r.written_at), ctx)) return check(false, `${seen} ${against}, but a retrain already followed that window`, figures);
  return check(worse, `${seen} ${against}`, figures);
}

function checkSchedule(everyMs: number, ctx: TriggerContext): TriggerCheck {
  const since = ctx.lastAttempt ?? ctx.production?.createdAt ?? null;
  if (since === null) return { trigger: 'schedule', fired: true, reason: 'no retrain and no production version yet', figures: { every_ms: everyMs } };
  const elapsed = ctx.now.getTime() - since.getTime();
  const what = ctx.lastAttempt !== null ? 'the last retrain' : `v${ctx.production!.version} was registered`;
  return {
    trigger: 'schedule',
    fired: elapsed >= everyMs,
    reason: `${durationText(elapsed)} since ${what} (${since.toISOString()}); the schedule retrains every ${durationText(everyMs)}`,
    figures: { every_ms: everyMs, since: since.toISOString(), elapsed_ms: elapsed },
  };
}

/** Whether monitoring evidence written at `written` was already there when the last retrain was triggered. */
function actedOn(written: Date, ctx: TriggerContext): boolean {
  return ctx.lastAttempt !== null && written.getTime() <= ctx.lastAttempt.getTime();
}

/** A version as score() labels its predictions and the monitor its rows: 'v3'. */
function monitoredVersion(v: ModelVersion): string {
  return `v${v.version}`;
}

function time(value: unknown): Date {
  return new Date(value as string | Date);
}

function durationText(ms: number): string {
  const [unit, size] = ms >= 86_400_000 ? ['d', 86_400_000] : ms >= 3_600_000 ? ['h', 3_600_000] : ['min', 60_000];
  return `${Number((ms / size).toFixed(1))} ${unit}`;
}
