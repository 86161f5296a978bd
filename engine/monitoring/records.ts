/**
 * What model monitoring emits per event-time window and model version: drift and data-quality
 * records (monitor()) and accuracy records (monitorAccuracy()). They go downstream as the
 * operators' output, to Prometheus gauges, and to a MonitoringRecorder (Postgres rows:
 * monitoring/postgresRecorder.ts), shaped like the rows of rtml_drift and rtml_accuracy.
 */

/** Distribution tests: each compares a window's values of a feature with the reference profile. */
export const DISTRIBUTION_TESTS = ['ks', 'wasserstein', 'psi', 'jensen_shannon', 'chi_square'] as const;
export type DistributionTest = (typeof DISTRIBUTION_TESTS)[number];

/** Data-quality checks of a feature in a window, against the reference where there is one. */
export const QUALITY_CHECKS = ['null_rate', 'out_of_range_rate', 'mean_shift', 'std_shift'] as const;
export type QualityCheck = (typeof QUALITY_CHECKS)[number];

/** Checks of the window as a whole (feature `*`). */
export const WINDOW_CHECKS = ['drift_share', 'dead_letter_rate', 'late_rate'] as const;
export type WindowCheck = (typeof WINDOW_CHECKS)[number];

export type DriftTest = DistributionTest | QualityCheck | WindowCheck;

export interface DriftRecord {
  model: string;
  /** The model version as score() wrote it ('v3'), or the reference's name for a given profile. */
  version: string;
  window_start: number;
  window_end: number;
  /** A feature, `score`, or `*` for the window as a whole. */
  feature: string;
  test: DriftTest;
  /** The statistic (D, PSI, distance, χ², a rate, a shift); null when it cannot be computed (no values). */
  value: number | null;
  /** For ks and chi_square. */
  p_value: number | null;
  threshold: number | null;
  /** The verdict of this test: for ks and chi_square p < threshold, else value > threshold. */
  drifted: boolean;
  /** True for the test that decides whether the feature drifted (it counts in drift_share). */
  decisive: boolean;
  /** Values the window had for the feature (events, for `*`). */
  n: number;
}

export const ACCURACY_METRICS = ['auc', 'log_loss', 'precision', 'recall', 'ece', 'labelled', 'positives', 'unlabelled'] as const;
export type AccuracyMetric = (typeof ACCURACY_METRICS)[number];

export interface AccuracyRecord {
  model: string;
  version: string;
  window_start: number;
  window_end: number;
  metric: AccuracyMetric;
  value: number | null;
  /** Labelled predictions in the window. */
  n: number;
  /** The decision threshold precision and recall were taken at. */
  threshold: number;
}

/**
 * Where a run's monitoring records are kept (RunOptions.monitoring): rows upserted on their natural
 * key, so a replay or a restart rewrites the same rows. Written after each burst of input and before
 * each checkpoint.
 */
export interface MonitoringRecorder {
  readonly description: string;
  write(drift: readonly DriftRecord[], accuracy: readonly AccuracyRecord[]): Promise<void>;
  close(): Promise<void>;
}
