import pg from 'pg';
import { redactUri } from './redact.ts';
import type { SqlClient, SqlQuery, SqlRow } from './sql.ts';

/**
 * A SQL client on PostgreSQL (`postgres://user@host:port/db`): a pg Pool, connected lazily.
 * Connection failures surface at once (no waiting for a pool slot that cannot open), so the caller
 * can back off and report them.
 */
export function postgresClient(uri: string): SqlClient {
  const pool = new pg.Pool({ connectionString: uri, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 10_000 });
  // An idle connection dropped by a server restart: the next query reconnects (or fails and is retried).
  pool.on('error', () => {});
  const run = async <R extends SqlRow>(q: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]) => {
    const result = await q.query<R>(text, params as unknown[] | undefined);
    return { rows: result.rows };
  };
  return {
    description: redactUri(uri),
    query: (text, params) => run(pool, text, params),
    async transaction<T>(fn: (tx: SqlQuery) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (text, params) => run(client, text, params) });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => (broken = rollbackErr));
        throw err;
      } finally {
        // A connection that could not roll back is discarded, not returned to the pool.
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
    close: () => pool.end(),
  };
}
