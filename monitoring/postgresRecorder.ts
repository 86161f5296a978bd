import { RtmlError } from '../engine/errors.ts';
import type { AccuracyRecord, DriftRecord, MonitoringRecorder } from '../engine/monitoring/records.ts';
import { pgliteClient, postgresClient, type SqlClient } from '../storage/index.ts';
import { ACCURACY_TABLE, DRIFT_TABLE, monitoringSchemaOnce } from './schema.ts';

/**
 * Monitoring history in Postgres or PGlite (monitoring/schema.ts): drift and accuracy records as
 * rows, upserted on (model, version, window, feature, test) and (…, metric), in one statement per
 * table per write (unnest of column arrays), so a replay or a resumed run rewrites its rows
 * instead of adding twins. Event times become timestamptz.
 */
export function monitoringRecorder(uri: string, flag = '--monitor-db'): MonitoringRecorder & { readonly sql: SqlClient } {
  const sql = sqlClient(uri, flag);
  const ready = monitoringSchemaOnce(sql);
  return {
    sql,
    description: sql.description,
    async write(drift: readonly DriftRecord[], accuracy: readonly AccuracyRecord[]): Promise<void> {
      if (drift.length === 0 && accuracy.length === 0) return;
      await ready();
      await sql.transaction(async (tx) => {
        if (drift.length > 0) {
          const rows = dedupe(drift, (r) => `${r.model}\u0000${r.version}\u0000${r.window_start}\u0000${r.window_end}\u0000${r.feature}\u0000${r.test}`);
          await tx.query(
            `INSERT INTO ${DRIFT_TABLE} (model, version, window_start, window_end, feature, test, value, p_value, threshold, drifted, n)
             SELECT model, version, to_timestamp(ws / 1000.0), to_timestamp(we / 1000.0), feature, test, value, p_value, threshold, drifted, n
             FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::float8[], $10::bool[], $11::int8[])
               AS t(model, version, ws, we, feature, test, value, p_value, threshold, drifted, n)
             ON CONFLICT (model, version, window_start, window_end, feature, test) DO UPDATE SET
               value = EXCLUDED.value, p_value = EXCLUDED.p_value, threshold = EXCLUDED.threshold, drifted = EXCLUDED.drifted, n = EXCLUDED.n, written_at = now()`,
            [
              rows.map((r) => r.model),
              rows.map((r) => r.version),
              rows.map((r) => r.window_start),
              rows.map((r) => r.window_end),
              rows.map((r) => r.feature),
              rows.map((r) => r.test),
              rows.map((r) => r.value),
              rows.map((r) => r.p_value),
              rows.map((r) => r.threshold),
              rows.map((r) => r.drifted),
              rows.map((r) => r.n),
            ],
          );
        }
        if (accuracy.length > 0) {
          const rows = dedupe(accuracy, (r) => `${r.model}\u0000${r.version}\u0000${r.window_start}\u0000${r.window_end}\u0000${r.metric}`);
          await tx.query(
            `INSERT INTO ${ACCURACY_TABLE} (model, version, window_start, window_end, metric, value, n, threshold)
             SELECT model, version, to_timestamp(ws / 1000.0), to_timestamp(we / 1000.0), metric, value, n, threshold
             FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::float8[], $7::int8[], $8::float8[])
               AS t(model, version, ws, we, metric, value, n, threshold)
             ON CONFLICT (model, version, window_start, window_end, metric) DO UPDATE SET
               value = EXCLUDED.value, n = EXCLUDED.n, threshold = EXCLUDED.threshold, written_at = now()`,
            [
              rows.map((r) => r.model),
              rows.map((r) => r.version),
              rows.map((r) => r.window_start),
              rows.map((r) => r.window_end),
              rows.map((r) => r.metric),
              rows.map((r) => r.value),
              rows.map((r) => r.n),
              rows.map((r) => r.threshold),
            ],
          );
        }
      });
    },
    close: () => sql.close(),
  };
}

function sqlClient(uri: string, flag: string): SqlClient {
  if (/^postgres(ql)?:\/\/[^/]/i.test(uri)) return postgresClient(uri);
  const m = /^pglite:(.+)$/i.exec(uri);
  if (m) return pgliteClient(m[1]!, 'monitoring');
  throw new RtmlError('RTML_E_USAGE', `${flag}: ${JSON.stringify(uri)} is not a database URI (use postgres://user@host:port/db or pglite:<dir>)`);
}

/** The last record per key: one upsert statement may not touch a row twice (a window re-emitted by an allowed-late event). */
function dedupe<R>(records: readonly R[], key: (r: R) => string): R[] {
  const last = new Map<string, R>();
  for (const r of records) last.set(key(r), r);
  return [...last.values()];
}
