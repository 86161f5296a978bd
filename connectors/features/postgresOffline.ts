import { postgresClient } from '../../storage/index.ts';
import type { OfflineStore } from './stores.ts';
import { sqlOffline } from './sqlOffline.ts';

/** The offline store on PostgreSQL (`postgres://user@host:port/db`), connected lazily. */
export function postgresOffline(uri: string): OfflineStore {
  return sqlOffline(postgresClient(uri));
}
