import { RtmlError } from '../../engine/errors.ts';
import { readLabels } from './labels.ts';
import type { OfflineStore } from './stores.ts';
import { tableFormat, writeTable, type TableColumn, type TableFormat } from '../../storage/index.ts';

/**
 * Point-in-time correct training sets.
 *
 * 1. Label rows are read from a JSON-lines file (entity and time fields, default `entity` and
 *    `time`, plus any label columns) and loaded into a temporary table.
 * 2. Per view, one SQL query joins every label with the view's row of the same entity with the
 *    greatest event time <= the label time: a row stamped exactly at the label time is included
 *    (a feature row's time is when its values became valid, e.g. a window's end), a later one
 *    never. With a view ttl, a row older than the label time minus the ttl is not taken either
 *    (online, it would have expired). Every view is read from one snapshot.
 * 3. Output: the label columns, then one column per feature named `<view>__<feature>` — always
 *    prefixed, so column names stay put when views are added and never clash with label columns.
 *    A label with no row as of its time gets nulls. Rows in label-file order; the format (`.jsonl`,
 *    `.csv`, `.parquet`) follows the output file's extension.
 *
 * ```ts
 * await exportTrainingSet({ offline: postgresOffline(uri), views: ['card_activity'], labels: 'labels.jsonl', out: 'train.parquet' });
 * ```
 */

export interface ExportOptions {
  offline: OfflineStore;
  views: readonly string[];
  /** JSON-lines file of label rows. */
  labels: string;
  /** Output file: .jsonl, .csv or .parquet. */
  out: string;
  /** Entity field of the label rows (default 'entity'). */
  entity?: string;
  /** Time field of the label rows, epoch ms or ISO-8601 (default 'time'). */
  time?: string;
}

export interface ExportSummary {
  rows: number;
  columns: string[];
  format: TableFormat;
  /** Per view: labels for which every feature is null (no row as of their time). */
  missing: Record<string, number>;
}

export async function exportTrainingSet(options: ExportOptions): Promise<ExportSummary> {
  const format = tableFormat(options.out);
  if (options.views.length === 0) throw new RtmlError('RTML_E_USAGE', 'name at least one feature view to export (--view <name>)');
  const dup = options.views.find((v, i) => options.views.indexOf(v) !== i);
  if (dup !== undefined) throw new RtmlError('RTML_E_USAGE', `--view ${dup} is given twice`);
  const labels = await readLabels(options.labels, { entity: options.entity ?? 'entity', time: options.time ?? 'time' });
  if (labels.rows.length === 0) throw new RtmlError('RTML_E_USAGE', `--labels ${options.labels} holds no label rows`);

  const features = await options.offline.asOf(options.views, labels.keys);
  const columns: TableColumn[] = labels.columns.map((name) => ({ name, values: labels.rows.map((r) => r[name]) }));
  const names = new Set(labels.columns);
  const missing: Record<string, number> = {};
  for (const view of options.views) {
    const own = features.filter((c) => c.view === view);
    missing[view] = labels.rows.reduce((n, _, i) => (own.every((c) => c.values[i] === null) ? n + 1 : n), 0);
    for (const c of own) {
      const name = `${c.view}__${c.feature}`;
      if (names.has(name)) throw new RtmlError('RTML_E_USAGE', `--labels ${options.labels}: label column '${name}' clashes with the feature column of the same name`);
      names.add(name);
      columns.push({ name, values: c.values, numeric: true });
    }
  }
  writeTable(options.out, columns, labels.rows.length);
  return { rows: labels.rows.length, columns: columns.map((c) => c.name), format, missing };
}
