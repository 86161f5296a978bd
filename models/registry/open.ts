import { RtmlError } from '../../engine/errors.ts';
import { pgliteClient, postgresClient } from '../../storage/index.ts';
import { DEFAULT_ARTIFACTS } from './artifacts.ts';
import { postgresListener } from './listen.ts';
import { Registry } from './registry.ts';

/**
 * Opens a registry from a URI: `postgres://user@host:port/db` (also `postgresql://`; watchers use
 * LISTEN/NOTIFY) or `pglite:<dir>` (embedded, the default `pglite:data/pglite`; watchers poll).
 * Nothing connects until first used.
 *
 * PGlite serves one process: the clients of one process on a data dir share one database, and a
 * second process is refused while the dir is open (a lock file beside it, see pgliteLock.ts) —
 * live routing changes from another process (`rtml models promote` beside `rtml run --follow`)
 * need a postgres:// registry.
 */

export const DEFAULT_REGISTRY = 'pglite:data/pglite';

export function openRegistry(uri: string = DEFAULT_REGISTRY, artifacts: string = DEFAULT_ARTIFACTS, flag = '--registry'): Registry {
  if (/^postgres(ql)?:\/\/[^/]/i.test(uri)) {
    return new Registry({ sql: postgresClient(uri), artifacts, listener: postgresListener(uri), ownsSql: true });
  }
  const m = /^pglite:(.+)$/i.exec(uri);
  if (m) return new Registry({ sql: pgliteClient(m[1]!, 'registry'), artifacts, ownsSql: true });
  throw new RtmlError('RTML_E_USAGE', `${flag}: ${JSON.stringify(uri)} is not a registry URI (use postgres://user@host:port/db or pglite:<dir>)`);
}
