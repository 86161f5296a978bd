import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import type { LabelKey } from './stores.ts';

/**
 * Label rows for a training set: a JSON-lines file, one object per line with an entity field and
 * a time field (epoch ms, or an ISO-8601 string) plus any label columns. Blank lines are skipped;
 * any other line that is not such an object fails with its line number.
 */

export interface Labels {
  /** The objects as read, in file order. */
  rows: Record<string, unknown>[];
  /** Their entity (as text) and time (epoch ms), in the same order. */
  keys: LabelKey[];
  /** Every field seen, in order of first appearance. */
  columns: string[];
}

export async function readLabels(path: string, fields: { entity: string; time: string }): Promise<Labels> {
  const labels: Labels = { rows: [], keys: [], columns: [] };
  const seen = new Set<string>();
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const fail = (why: string): never => {
        throw new RtmlError('RTML_E_USAGE', `--labels ${path} line ${n}: ${why}`);
      };
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        fail(`not JSON (${errorMessage(err)})`);
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) fail('not a JSON object');
      const r = row as Record<string, unknown>;
      const entity = r[fields.entity];
      if (typeof entity !== 'string' && !(typeof entity === 'number' && Number.isFinite(entity))) {
        fail(`entity field '${fields.entity}' is ${entity === undefined ? 'missing' : JSON.stringify(entity)} (set the field with --entity)`);
      }
      const time = labelTime(r[fields.time]);
      if (time === undefined) fail(`time field '${fields.time}' is ${r[fields.time] === undefined ? 'missing' : JSON.stringify(r[fields.time])}, not epoch ms or an ISO-8601 time (set the field with --time)`);
      labels.rows.push(r);
      labels.keys.push({ entity: String(entity), time: time! });
      for (const key of Object.keys(r)) {
        if (!seen.has(key)) {
          seen.add(key);
          labels.columns.push(key);
        }
      }
    }
  } catch (err) {
    if (err instanceof RtmlError) throw err;
    throw new RtmlError('RTML_E_USAGE', `--labels ${path}: ${errorMessage(err)}`, { cause: err });
  } finally {
    lines.close();
  }
  return labels;
}

function labelTime(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\d/.test(v)) {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}
