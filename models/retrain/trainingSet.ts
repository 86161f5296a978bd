import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtmlError } from '../../engine/errors.ts';
import type { RetrainPolicy } from './policy.ts';

/**
 * The retraining data: the label rows of the policy's range — the `last` span up to the newest
 * label's time, `(newest − last, newest]` — sorted by time, joined point-in-time with the policy's
 * feature views. Sorted, so the last rows are the most recent ones: the rows trainModel holds out
 * and the champion and challenger are compared on.
 *
 * Reading labels and exporting are the feature store's (connectors/features: readLabels,
 * exportTrainingSet); the caller passes them in, as models/ does not reach into connectors/.
 */

export interface LabelRows {
  readonly rows: readonly Record<string, unknown>[];
  /** Each row's entity and time (epoch ms), in the same order. */
  readonly keys: readonly { readonly entity: string; readonly time: number }[];
}

export interface TrainingSetExport {
  readonly views: readonly string[];
  /** A JSON-lines file of label rows. */
  readonly labels: string;
  readonly out: string;
  readonly entity: string;
  readonly time: string;
}

export interface TrainingData {
  readLabels(path: string, fields: { entity: string; time: string }): Promise<LabelRows>;
  exportTrainingSet(request: TrainingSetExport): Promise<{ rows: number; columns: string[]; missing: Record<string, number> }>;
}

export interface TrainingSet {
  /** The exported rows (JSON lines), oldest label first. */
  readonly file: string;
  readonly columns: readonly string[];
  readonly rows: number;
  readonly labelsInFile: number;
  /** The range's label times, epoch ms: `from` exclusive, `to` (the newest label) inclusive. */
  readonly from: number;
  readonly to: number;
  /** Per view: rows for which it had no values as of the label's time. */
  readonly missing: Readonly<Record<string, number>>;
}

export async function exportRecent(policy: RetrainPolicy, data: TrainingData, dir: string): Promise<TrainingSet> {
  const { views, labels, entity, time, lastMs } = policy.data;
  const all = await data.readLabels(labels, { entity, time });
  if (all.rows.length === 0) throw new RtmlError('RTML_E_TRAIN', `data.labels ${labels} holds no label rows`);
  const to = all.keys.reduce((max, k) => Math.max(max, k.time), -Infinity);
  const from = to - lastMs;
  const recent = all.keys
    .map((k, i) => ({ time: k.time, i }))
    .filter((k) => k.time > from)
    .sort((a, b) => a.time - b.time || a.i - b.i);
  const inRange = join(dir, 'labels-in-range.jsonl');
  writeFileSync(inRange, recent.map((k) => `${JSON.stringify(all.rows[k.i])}\n`).join(''));
  const out = join(dir, 'training-set.jsonl');
  const exported = await data.exportTrainingSet({ views, labels: inRange, out, entity, time });
  return { file: out, columns: exported.columns, rows: exported.rows, labelsInFile: all.rows.length, from, to, missing: exported.missing };
}
