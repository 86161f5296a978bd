import { auc, logloss } from '../training/index.ts';

/**
 * The metrics a retraining policy judges models by, each with its direction. The names are those
 * the monitor writes to `rtml_accuracy`; `recorded` is the figure `rtml train` records in the model
 * file (what an accuracy drop is measured against).
 */

export type MetricName = 'auc' | 'log_loss';

export interface Metric {
  readonly name: MetricName;
  readonly higherIsBetter: boolean;
  /** The model file's metric of the same kind, on its held-out rows. */
  readonly recorded: 'held_out_auc' | 'held_out_logloss';
  /** The accuracy trigger's keys: an absolute bound, and a worsening against `recorded`. */
  readonly boundKey: 'below' | 'above';
  readonly worseningKey: 'drop' | 'rise';
  compute(labels: ArrayLike<number>, scores: ArrayLike<number>): number;
}

export const METRICS: Readonly<Record<MetricName, Metric>> = {
  auc: { name: 'auc', higherIsBetter: true, recorded: 'held_out_auc', boundKey: 'below', worseningKey: 'drop', compute: auc },
  log_loss: { name: 'log_loss', higherIsBetter: false, recorded: 'held_out_logloss', boundKey: 'above', worseningKey: 'rise', compute: logloss },
};

/** How much better `value` is than `reference` (negative: worse), whichever way the metric points. */
export function improvement(metric: Metric, value: number, reference: number): number {
  return metric.higherIsBetter ? value - reference : reference - value;
}

/** `x >= threshold` with a little slack for float sums, so 0.95 − 0.90 counts as a change of 0.05. */
export function atLeast(x: number, threshold: number): boolean {
  return x >= threshold - 1e-9;
}

/** A figure for messages: 4 decimals, n/a for NaN. */
export function figure(x: number | null): string {
  return x === null || Number.isNaN(x) ? 'n/a' : String(Number(x.toFixed(4)));
}
