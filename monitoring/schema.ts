import { ddlOnce, type SqlClient } from '../storage/index.ts';

/**
 * Model monitoring's history in Postgres (or PGlite), created on first use:
 *
 * - `rtml_drift`: one row per (model, version, event-time window, feature, test). `feature` is a
 *   feature name, `score` (the model's output) or `*` for the window as a whole (tests
 *   `drift_share`, `dead_letter_rate`, `late_rate`). `value` is the test's statistic (PSI, KS D,
 *   Jensen–Shannon distance, normed Wasserstein, χ², a rate or a shift), `p_value` is set for the
 *   tests that have one (KS, χ²), `drifted` is the verdict against `threshold`.
 * - `rtml_accuracy`: one row per (model, version, window, metric) — `auc`, `log_loss`,
 *   `precision`, `recall`, `ece` (expected calibration error), `labelled`, `positives` — with the
 *   decision threshold the precision and recall were taken at.
 *
 * Rows are upserted on their natural key, so a replay or a restart after a crash rewrites the same
 * rows instead of adding twins.
 */

export const DRIFT_TABLE = 'rtml_drift';
export const ACCURACY_TABLE = 'rtml_accuracy';

const DDL = [
  `CREATE TABLE IF NOT EXISTS ${DRIFT_TABLE} (
     model text NOT NULL,
     version text NOT NULL,
     window_start timestamptz NOT NULL,
     window_end timestamptz NOT NULL,
     feature text NOT NULL,
     test text NOT NULL,
     value double precision,
     p_value double precision,
     threshold double precision,
     drifted boolean NOT NULL,
     n bigint NOT NULL,
     written_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (model, version, window_start, window_end, feature, test))`,
  `CREATE INDEX IF NOT EXISTS ${DRIFT_TABLE}_recent ON ${DRIFT_TABLE} (model, window_end)`,
  `CREATE TABLE IF NOT EXISTS ${ACCURACY_TABLE} (
     model text NOT NULL,
     version text NOT NULL,
     window_start timestamptz NOT NULL,
     window_end timestamptz NOT NULL,
     metric text NOT NULL,
     value double precision,
     n bigint NOT NULL,
     threshold double precision,
     written_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (model, version, window_start, window_end, metric))`,
  `CREATE INDEX IF NOT EXISTS ${ACCURACY_TABLE}_recent ON ${ACCURACY_TABLE} (model, window_end)`,
];

/** Creates the tables (once per client); see ddlOnce. */
export function monitoringSchemaOnce(sql: SqlClient): () => Promise<void> {
  return ddlOnce(sql, DDL);
}
