import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import { parquetWriteFile, type ColumnSource } from 'hyparquet-writer';
import { RtmlError } from '../engine/errors.ts';

/**
 * Writes a table (columns of equal length) to `.jsonl`, `.csv` or `.parquet`, by the file's
 * extension. Absent values (undefined) are left out of a JSON line, empty in CSV, null in Parquet.
 * Parquet column types: DOUBLE for feature columns; for others, BOOLEAN when every value is a
 * boolean, INT64 when every value is a whole number, DOUBLE when every value is a number, else
 * STRING (non-strings as JSON).
 */

export type TableFormat = 'jsonl' | 'csv' | 'parquet';

export interface TableColumn {
  name: string;
  values: readonly unknown[];
  /** Known to hold numbers or null (feature columns): DOUBLE in Parquet. */
  numeric?: boolean;
}

const FORMATS: Record<string, TableFormat> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv', '.parquet': 'parquet' };

export function tableFormat(path: string, flag = '--out'): TableFormat {
  const format = FORMATS[extname(path).toLowerCase()];
  if (format === undefined) throw new RtmlError('RTML_E_USAGE', `${flag} ${path}: the file name must end in .jsonl, .csv or .parquet (it chooses the format)`);
  return format;
}

export function writeTable(path: string, columns: readonly TableColumn[], rowCount: number): void {
  const format = tableFormat(path);
  mkdirSync(dirname(path), { recursive: true });
  if (format === 'parquet') {
    parquetWriteFile({ filename: path, columnData: columns.map((c) => parquetColumn(c, rowCount)) });
    return;
  }
  const fd = openSync(path, 'w');
  try {
    const line = format === 'csv' ? csvLine : jsonLine;
    if (format === 'csv') writeSync(fd, `${columns.map((c) => csvField(c.name)).join(',')}\n`);
    const chunk: string[] = [];
    for (let i = 0; i < rowCount; i++) {
      chunk.push(line(columns, i));
      if (chunk.length === 4096 || i === rowCount - 1) {
        writeSync(fd, `${chunk.join('\n')}\n`);
        chunk.length = 0;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function jsonLine(columns: readonly TableColumn[], i: number): string {
  const row: Record<string, unknown> = {};
  for (const c of columns) if (c.values[i] !== undefined) row[c.name] = c.values[i];
  return JSON.stringify(row);
}

function csvLine(columns: readonly TableColumn[], i: number): string {
  return columns.map((c) => csvValue(c.values[i])).join(',');
}

function csvValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return csvField(typeof v === 'string' ? v : JSON.stringify(v));
}

/** RFC 4180: quoted when it holds a comma, quote, line break or edge space; quotes doubled. */
function csvField(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function parquetColumn(c: TableColumn, rowCount: number): ColumnSource {
  const values = Array.from({ length: rowCount }, (_, i) => c.values[i] ?? null);
  if (c.numeric) return { name: c.name, data: values, type: 'DOUBLE' };
  const present = values.filter((v) => v !== null);
  if (present.length > 0 && present.every((v) => typeof v === 'boolean')) return { name: c.name, data: values, type: 'BOOLEAN' };
  if (present.length > 0 && present.every((v) => typeof v === 'number')) {
    if (!present.every((v) => Number.isSafeInteger(v))) return { name: c.name, data: values, type: 'DOUBLE' };
    return { name: c.name, data: values.map((v) => (v === null ? null : BigInt(v as number))), type: 'INT64' };
  }
  return { name: c.name, data: values.map((v) => (v === null || typeof v === 'string' ? v : JSON.stringify(v))), type: 'STRING' };
}
