import type { SqlClient, SqlQuery } from './sql.ts';

/**
 * pg_advisory_xact_lock key ('rtml') that every rtml DDL transaction takes — the offline store's,
 * the registry's, monitoring's — so concurrent first uses by several processes do not race.
 */
const DDL_LOCK = 0x72746d6c;

/** Takes rtml's DDL lock until the transaction `tx` ends. */
export async function lockDdl(tx: SqlQuery): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
}

/**
 * Runs `statements` (CREATE … IF NOT EXISTS) once per client, in one transaction under the DDL lock;
 * the returned function resolves when they have run. A failed attempt (database down) is retried by
 * the next call.
 */
export function ddlOnce(sql: SqlClient, statements: readonly string[]): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () =>
    (done ??= sql
      .transaction(async (tx) => {
        await lockDdl(tx);
        for (const statement of statements) await tx.query(statement);
      })
      .catch((err: unknown) => {
        done = undefined;
        throw err;
      }));
}
