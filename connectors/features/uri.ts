import { RtmlError } from '../../engine/errors.ts';
import { memoryOnline } from './memoryOnline.ts';
import { pgliteOffline } from './pgliteOffline.ts';
import { postgresOffline } from './postgresOffline.ts';
import { redisOnline } from './redisOnline.ts';
import type { OfflineStore, OnlineStore } from './stores.ts';
import { uriFormList } from '../uriForms.ts';

/**
 * Feature store URIs. Online: `redis://host:port[/db]` (also `rediss://`), or `memory:` (inside
 * the process). Offline: `postgres://user@host:port/db` (also `postgresql://`), or
 * `pglite:<dir>` (embedded, e.g. `pglite:data/pglite`). Nothing connects until first used.
 */

export const DEFAULT_ONLINE = 'memory:';
export const DEFAULT_OFFLINE = 'pglite:data/pglite';

export function onlineStoreFromUri(uri: string, flag = '--online'): OnlineStore {
  if (/^rediss?:\/\/[^/]/i.test(uri)) return redisOnline(uri);
  if (uri === 'memory:') return memoryOnline();
  throw new RtmlError('RTML_E_USAGE', `${flag}: ${JSON.stringify(uri)} is not an online feature store URI (use ${uriFormList('online')})`);
}

export function offlineStoreFromUri(uri: string, flag = '--offline'): OfflineStore {
  if (/^postgres(ql)?:\/\/[^/]/i.test(uri)) return postgresOffline(uri);
  const m = /^pglite:(.+)$/i.exec(uri);
  if (m) return pgliteOffline(m[1]!);
  throw new RtmlError('RTML_E_USAGE', `${flag}: ${JSON.stringify(uri)} is not an offline feature store URI (use ${uriFormList('offline')})`);
}
