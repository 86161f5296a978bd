import { readFileSync } from 'node:fs';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { tableFormat } from '../../storage/index.ts';
import { forEachCsvRecord } from './csvRecords.ts';
import { featureMatrix, type LabelledData } from './matrix.ts';

/**
 * Reads a training set — `.jsonl`, `.csv` or `.parquet`, as `rtml features export` writes them —
 * into a feature matrix (columns in the order of `features`) and 0/1 labels.
 *
 * 1. A feature value is a number, a numeric string, or a boolean (1/0). Missing — absent, null, an
 *    empty cell, `null` or `NaN` — becomes NaN, which the model handles. Anything else (text, an
 *    object, ±Infinity) is refused, naming the file, line and column.
 * 2. A label is 0/1 or true/false (also as text); a missing or other label is refused the same way.
 * 3. A column that no row has (a CSV header without it, a Parquet schema without it, or no JSON
 *    line with it) is refused with the columns there are: it is a misspelt name far more often than
 *    an always-missing feature.
 * 4. Parquet rows are numbered from 1 in messages, where text formats give the line.
 */

export interface TableSpec {
  readonly label: string;
  readonly features: readonly string[];
}

export async function readTrainingData(path: string, spec: TableSpec): Promise<LabelledData> {
  const format = tableFormat(path, '--data');
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `--data ${path} cannot be read: ${errorMessage(err)}`);
  }
  const table = new TableBuilder(path, spec);
  if (format === 'parquet') await readParquet(bytes, table);
  else if (format === 'csv') readCsv(bytes.toString('utf8'), table);
  else readJsonl(bytes.toString('utf8'), table);
  return table.finish();
}

async function readParquet(bytes: Buffer, table: TableBuilder): Promise<void> {
  const file = new Uint8Array(bytes).buffer; // a copy of its own: readFileSync's Buffer may share a pooled one
  let metadata: ReturnType<typeof parquetMetadata>;
  try {
    metadata = parquetMetadata(file);
  } catch (err) {
    throw new RtmlError('RTML_E_TRAIN', `${table.path}: not a Parquet file (${errorMessage(err)})`);
  }
  const present = parquetSchema(metadata).children.map((c) => c.element.name);
  const { label, features } = table.spec;
  for (const name of [label, ...features]) if (!present.includes(name)) throw table.noColumn(name, present);
  const rows = await parquetReadObjects({ file, metadata, columns: [label, ...features] });
  rows.forEach((row, i) => table.addRow(i + 1, row[label], (j) => row[features[j]!]));
}

function readCsv(text: string, table: TableBuilder): void {
  let columns: number[] | null = null;
  let labelColumn = -1;
  let width = 0;
  try {
    forEachCsvRecord(text, (fields, line) => {
      if (columns === null) {
        const index = (name: string) => {
          const i = fields.indexOf(name);
          if (i < 0) throw table.noColumn(name, fields);
          return i;
        };
        labelColumn = index(table.spec.label);
        columns = table.spec.features.map(index);
        width = fields.length;
        return;
      }
      if (fields.length !== width) throw new RtmlError('RTML_E_TRAIN', `${table.path}:${line}: ${fields.length} field(s), but the header has ${width}`);
      table.addRow(line, fields[labelColumn], (j) => fields[columns![j]!]);
    });
  } catch (err) {
    if (err instanceof SyntaxError) throw new RtmlError('RTML_E_TRAIN', `${table.path}: ${err.message}`);
    throw err;
  }
  if (columns === null) throw new RtmlError('RTML_E_TRAIN', `${table.path} is empty: expected a header line and rows`);
}

function readJsonl(text: string, table: TableBuilder): void {
  const seen = new Set<string>();
  let start = 0;
  for (let line = 1; start < text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const source = text.slice(start, end).trim();
    start = end + 1;
    if (source === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(source);
    } catch (err) {
      throw new RtmlError('RTML_E_TRAIN', `${table.path}:${line}: not JSON (${errorMessage(err)})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new RtmlError('RTML_E_TRAIN', `${table.path}:${line}: expected a JSON object per line`);
    const record = row as Record<string, unknown>;
    if (seen.size < 1000) for (const key of Object.keys(record)) seen.add(key); // for the "no such column" message
    table.addRow(line, record[table.spec.label], (j) => record[table.spec.features[j]!], record);
  }
  table.checkColumnsSeen([...seen]);
}

/** Collects rows into growing typed arrays and converts each cell. */
class TableBuilder {
  private values = new Float64Array(1024);
  private labels = new Uint8Array(64);
  private rows = 0;
  /** Per feature: whether any row had the key at all (JSONL). */
  private readonly present: boolean[];

  constructor(
    readonly path: string,
    readonly spec: TableSpec,
  ) {
    const dup = spec.features.find((f, i) => spec.features.indexOf(f) !== i);
    if (dup !== undefined) throw new RtmlError('RTML_E_USAGE', `--features names ${dup} twice`);
    if (spec.features.includes(spec.label)) throw new RtmlError('RTML_E_USAGE', `--features includes the label ${spec.label}: a model must not see its label`);
    this.present = spec.features.map(() => false);
  }

  addRow(line: number, label: unknown, feature: (j: number) => unknown, keys?: Record<string, unknown>): void {
    const f = this.spec.features.length;
    if ((this.rows + 1) * f > this.values.length) this.values = grow(this.values, (this.rows + 1) * f);
    if (this.rows + 1 > this.labels.length) this.labels = grow(this.labels, this.rows + 1);
    this.labels[this.rows] = this.label(line, label);
    const base = this.rows * f;
    for (let j = 0; j < f; j++) {
      const raw = feature(j);
      if (keys !== undefined && !this.present[j] && this.spec.features[j]! in keys) this.present[j] = true;
      const v = numberOf(raw);
      if (v === undefined) throw this.bad(line, this.spec.features[j]!, raw, 'is not a number');
      this.values[base + j] = v;
    }
    this.rows++;
  }

  checkColumnsSeen(columns: string[]): void {
    if (this.rows === 0) return;
    const missing = this.spec.features.find((_, j) => !this.present[j]);
    if (missing !== undefined) throw this.noColumn(missing, columns);
  }

  noColumn(name: string, columns: readonly string[]): RtmlError {
    return new RtmlError('RTML_E_USAGE', `${this.path} has no column "${name}" (columns: ${columns.join(', ') || 'none'})`);
  }

  finish(): LabelledData {
    if (this.rows === 0) throw new RtmlError('RTML_E_TRAIN', `${this.path} holds no rows`);
    const f = this.spec.features.length;
    return { matrix: featureMatrix(this.spec.features, this.rows, this.values.slice(0, this.rows * f)), labels: this.labels.slice(0, this.rows) };
  }

  private label(line: number, raw: unknown): number {
    if (raw === 0 || raw === 0n || raw === false || raw === '0' || raw === 'false') return 0;
    if (raw === 1 || raw === 1n || raw === true || raw === '1' || raw === 'true') return 1;
    const missing = raw === undefined || raw === null || raw === '';
    throw this.bad(line, this.spec.label, raw, missing ? 'is missing: every row needs a label' : 'is not a label: expected 0/1 or true/false');
  }

  private bad(line: number, column: string, raw: unknown, why: string): RtmlError {
    const shown = raw === undefined ? 'the value' : typeof raw === 'bigint' ? String(raw) : JSON.stringify(raw);
    return new RtmlError('RTML_E_TRAIN', `${this.path}:${line}: column ${column}: ${shown} ${why}`);
  }
}

const MISSING_TEXT = new Set(['', 'null', 'NaN']);

/** The number a cell holds, NaN when missing, undefined when it is not a number. */
function numberOf(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'bigint') return Number(raw); // Parquet INT64
  if (raw === undefined || raw === null) return Number.NaN;
  if (typeof raw === 'boolean') return raw ? 1 : 0;
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (MISSING_TEXT.has(text)) return Number.NaN;
  const v = Number(text);
  return Number.isFinite(v) ? v : undefined;
}

function grow<T extends Float64Array | Uint8Array>(array: T, atLeast: number): T {
  const next = new (array.constructor as new (n: number) => T)(Math.max(atLeast, array.length * 2));
  next.set(array);
  return next;
}
