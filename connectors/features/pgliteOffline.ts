import { pgliteClient } from '../../storage/index.ts';
import type { OfflineStore } from './stores.ts';
import { sqlOffline } from './sqlOffline.ts';

/**
 * The offline store on PGlite with its data in `dir`: the embedded default, e.g. `pglite:data/pglite`.
 * The same SQL as on Postgres; one process at a time may open a data dir (storage/pglite.ts).
 */
export function pgliteOffline(dir: string): OfflineStore {
  return sqlOffline(pgliteClient(dir));
}
