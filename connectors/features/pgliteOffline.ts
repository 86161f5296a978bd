import { mkdirSync } from 'node:fs';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { OfflineStore } from './stores.ts';
import type { SqlClient, SqlQuery, SqlRow } from './sql.ts';
import { sqlOffline } from './sqlOffline.ts';

/**
 * The offline store on PGlite (Postgres in WebAssembly, in process) with its data in `dir`: the
 * embedded default, e.g. `pglite:data/pglite`. The same SQL as on Postgres. The database is
 * started at the first statement (a new data dir takes a few seconds to initialise). One process
 * at a time may open a data dir. PGlite itself is imported then too: loading it costs ~50 MB of
 * memory, which a process using Postgres (or no offline store, like `rtml serve`) should not pay.
 */
export function pgliteOffline(dir: string): OfflineStore {
  return sqlOffline(pgliteClient(dir));
}

export function pgliteClient(dir: string): SqlClient {
  let db: Promise<PGlite> | undefined;
  const open = (): Promise<PGlite> =>
    (db ??= (async () => {
      mkdirSync(dir, { recursive: true });
      const { PGlite } = await import('@electric-sql/pglite');
      const started = new PGlite(dir);
      await started.waitReady;
      return started;
    })());
  const run = async <R extends SqlRow>(q: PGlite | Transaction, text: string, params?: readonly unknown[]) => {
    const result = await q.query<R>(text, params as unknown[] | undefined);
    return { rows: result.rows };
  };
  return {
    description: `pglite:${dir}`,
    query: async (text, params) => run(await open(), text, params),
    async transaction<T>(fn: (tx: SqlQuery) => Promise<T>): Promise<T> {
      // PGlite has one connection; its transaction() holds it, so other statements wait.
      return (await open()).transaction((tx) => fn({ query: (text, params) => run(tx, text, params) }));
    },
    async close(): Promise<void> {
      if (db === undefined) return;
      const opening = db;
      db = undefined;
      const opened = await opening.catch(() => undefined); // failed to start: nothing to close
      await opened?.close();
    },
  };
}
