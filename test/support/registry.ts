import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { trainGbdt, xorData } from '../../models/training/index.ts';
import { gbdtToOnnx } from '../../models/onnx/index.ts';
import { POSTGRES_URI, uniqueView } from './features.ts';

/** Real ONNX models for the registry tests: a small GBDT on synthetic data, exported as `rtml train` does. */

export interface ModelSpec {
  /** Different seeds give different trees, so different bytes (default 1). */
  seed?: number;
  /** Feature names (default x0, x1, x2); their count is the input width. */
  features?: string[];
  metrics?: Record<string, number>;
}

export function modelBytes(spec: ModelSpec = {}): Uint8Array {
  const features = spec.features ?? ['x0', 'x1', 'x2'];
  const model = trainGbdt(xorData({ rows: 400, features: Math.max(features.length, 2), seed: spec.seed ?? 1 }), { trees: 3, depth: 3 });
  const renamed = { ...model, features: features.length >= 2 ? features : model.features };
  return gbdtToOnnx(renamed, { label: 'y', metrics: spec.metrics ?? { held_out_auc: 0.9, held_out_logloss: 0.3 } });
}

/** Writes a model (or any bytes) to `dir/file` and returns the path. */
export function writeModel(dir: string, file: string, content: ModelSpec | Uint8Array | string = {}): string {
  const path = join(dir, file);
  writeFileSync(path, content instanceof Uint8Array || typeof content === 'string' ? content : modelBytes(content));
  return path;
}

/** A model name no other test (or test run) uses: `t_<prefix>_<run>_<n>`, as views are named. */
export const uniqueModel = uniqueView;

/** Deletes the models' versions, routing and events from Postgres after the test. */
export function cleanModels(t: TestContext, ...names: string[]): void {
  t.after(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    try {
      for (const table of ['rtml_model_versions', 'rtml_model_routing', 'rtml_model_events']) {
        const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
        if (rows[0]?.t != null) await client.query(`DELETE FROM ${table} WHERE name = ANY($1::text[])`, [names]);
      }
    } finally {
      await client.end();
    }
  });
}
