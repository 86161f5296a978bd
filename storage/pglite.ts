import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { SqlClient, SqlQuery, SqlRow } from './sql.ts';
import { lockDataDir, type LockHolder } from './pgliteLock.ts';
import { RtmlError } from '../engine/errors.ts';

/** What opens a PGlite data dir: the words of its refusal when another process holds the dir. */
export type PgliteRole = 'offline store' | 'registry' | 'monitoring';

/**
 * A SQL client on PGlite (Postgres in WebAssembly, in process) with its data in `dir`. The database
 * is started at the first statement (a new data dir takes a few seconds to initialise). PGlite itself
 * is imported then too: loading it costs ~50 MB of memory, which a process using Postgres (or no SQL
 * at all, like `rtml serve` on a postgres:// registry) should not pay.
 *
 * One PGlite per data dir per process, shared by every client on it (the registry and the offline
 * store of one run may name the same dir) and closed with the last one; the dir's lock file
 * (pgliteLock.ts) keeps other processes out while it is open.
 */
const databases = new Map<string, { db: Promise<PGlite>; refs: number; release: () => void }>();

export function pgliteClient(dir: string, role: PgliteRole = 'offline store'): SqlClient {
  const path = resolve(dir);
  let db: Promise<PGlite> | undefined;
  const open = (): Promise<PGlite> => {
    if (db !== undefined) return db;
    let shared = databases.get(path);
    if (shared === undefined) {
      // The lock file sits beside the data dir: its parent must exist first.
      mkdirSync(path, { recursive: true });
      const release = lockDataDir(path, (holder) => refusal(role, dir, holder));
      const opening = (async () => {
        const { PGlite } = await import('@electric-sql/pglite');
        const started = new PGlite(path);
        await started.waitReady;
        return started;
      })();
      const entry = { db: opening, refs: 0, release };
      shared = entry;
      databases.set(path, entry);
      opening.catch(() => {
        // Failed to start: the next statement tries again.
        if (databases.get(path) === entry) databases.delete(path);
        release();
      });
    }
    shared.refs++;
    db = shared.db;
    return db;
  };
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
      const shared = databases.get(path);
      if (shared === undefined || shared.db !== opening || --shared.refs > 0) return;
      databases.delete(path);
      try {
        const opened = await opening.catch(() => undefined); // failed to start: nothing to close
        await opened?.close();
      } finally {
        shared.release();
      }
    },
  };
}

function refusal(role: PgliteRole, dir: string, holder: LockHolder): RtmlError {
  const by = `pid ${holder.pid}${holder.command === '' ? '' : ` (${holder.command})`}`;
  return role === 'registry'
    ? new RtmlError('RTML_E_REGISTRY', `registry pglite:${dir} is in use by ${by}; PGlite serves one process — use a postgres:// registry for live changes from another process`)
    : new RtmlError('RTML_E_STORE', `offline store pglite:${dir} is in use by ${by}; PGlite serves one process — use a postgres:// offline store to share it between processes`);
}
