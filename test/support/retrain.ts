import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { featureView, type FeatureRow, type FeatureView } from '../../engine/features.ts';
import type { OfflineStore } from '../../connectors/features/stores.ts';
import { mulberry32 } from '../../models/training/index.ts';
import { POSTGRES_URI, cleanPostgres, uniqueView } from './features.ts';

/**
 * Data for the retraining tests: labelled rows in regimes (a span of days in which the label
 * follows one feature), their feature rows in an offline-store view, label files and policies.
 */

export const DAY = 86_400_000;
export const T0 = Date.UTC(2024, 0, 1);

export interface LabelRow {
  entity: string;
  time: number;
  y: number;
}

export interface Regime {
  /** First label time (epoch ms); the rows are spread evenly over `days`. */
  from: number;
  days: number;
  rows: number;
  /** The feature the label follows, P(y = 1) = sigmoid(10 (signal − 0.5)); the other is noise. */
  signal: 'x1' | 'x2';
  seed: number;
  /** Always this label instead (a one-class training set). */
  constant?: 0 | 1;
}

/** Label rows and, one second before each, its entity's feature row (x1, x2 uniform in [0, 1)). */
export function regime(r: Regime): { labels: LabelRow[]; features: FeatureRow[] } {
  const rand = mulberry32(r.seed);
  const labels: LabelRow[] = [];
  const features: FeatureRow[] = [];
  for (let i = 0; i < r.rows; i++) {
    const entity = `e${r.seed}_${i}`;
    const time = r.from + Math.floor((i * r.days * DAY) / r.rows);
    const x = { x1: rand(), x2: rand() };
    const p = 1 / (1 + Math.exp(-10 * (x[r.signal] - 0.5)));
    labels.push({ entity, time, y: r.constant ?? (rand() < p ? 1 : 0) });
    features.push({ entity, time: time - 1000, values: x });
  }
  return { labels, features };
}

/** A view of features x1, x2 with these rows in the offline store, dropped after the test. */
export async function offlineView(t: TestContext, store: OfflineStore, rows: readonly FeatureRow[]): Promise<FeatureView> {
  const view = featureView({ name: uniqueView('retrain'), entity: 'entity', time: 'time', features: ['x1', 'x2'] });
  cleanPostgres(t, view.name);
  await store.ensureView(view);
  await store.write(view, rows);
  return view;
}

export function writeLabels(dir: string, file: string, labels: readonly LabelRow[]): string {
  const path = join(dir, file);
  writeFileSync(path, labels.map((l) => `${JSON.stringify(l)}\n`).join(''));
  return path;
}

/** A policy file for model `model` training on `view`'s x1 and x2 (label y); `extra` replaces top-level keys. */
export function writePolicy(dir: string, file: string, model: string, view: string, labels: string, extra: Record<string, unknown> = {}): string {
  const policy = {
    model,
    triggers: { schedule: { every: '1d' } },
    data: { views: [view], labels, range: { last: '7d' } },
    training: { label: 'y', features: [`${view}__x1`, `${view}__x2`], trees: 30, depth: 3 },
    evaluation: { holdout: 0.2, metric: 'auc', margin: 0.01 },
    promotion: { to: 'production' },
    ...extra,
  };
  const path = join(dir, file);
  writeFileSync(path, stringify(policy));
  return path;
}

/** Deletes the models' monitoring history (rtml_drift, rtml_accuracy) after the test. */
export function cleanMonitoring(t: TestContext, ...models: string[]): void {
  t.after(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    try {
      for (const table of ['rtml_drift', 'rtml_accuracy']) {
        const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
        if (rows[0]?.t != null) await client.query(`DELETE FROM ${table} WHERE model = ANY($1::text[])`, [models]);
      }
    } finally {
      await client.end();
    }
  });
}
