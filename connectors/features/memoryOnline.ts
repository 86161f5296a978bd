import type { FeatureRow, FeatureValue, FeatureView } from '../../engine/features.ts';
import type { OnlineFeatures, OnlineStore } from './stores.ts';

/**
 * The online store inside the process (the embedded default when no Redis is bound): the same
 * semantics as redisOnline — newer wins, equal times let the last row win, ttl from the write
 * that last changed an entity — for runs and tests that need no server.
 */

interface Entry {
  time: number;
  values: Record<string, FeatureValue>;
  /** Clock time after which the entry is gone; Infinity without ttl. */
  expiresAt: number;
}

export interface MemoryOnlineOptions {
  /** Wall clock for ttl expiry (default Date.now). */
  clock?: () => number;
}

/** Expired entries are dropped lazily on get, and by a sweep of the view every this many writes. */
const SWEEP_EVERY = 65_536;

export function memoryOnline(options: MemoryOnlineOptions = {}): OnlineStore {
  const clock = options.clock ?? Date.now;
  const views = new Map<string, Map<string, Entry>>();
  let writes = 0;

  function sweep(entries: Map<string, Entry>, now: number): void {
    for (const [entity, entry] of entries) if (entry.expiresAt <= now) entries.delete(entity);
  }

  return {
    description: 'memory:',
    async write(view: FeatureView, rows: readonly FeatureRow[]): Promise<void> {
      let entries = views.get(view.name);
      if (entries === undefined) views.set(view.name, (entries = new Map()));
      const now = clock();
      for (const row of rows) {
        const held = entries.get(row.entity);
        if (held !== undefined && held.expiresAt > now && held.time > row.time) continue;
        // Values of features a row lacks stay, like fields of a Redis hash that HSET leaves alone.
        const values: Record<string, FeatureValue> = held !== undefined && held.expiresAt > now ? { ...held.values } : {};
        for (const f of view.features) values[f] = row.values[f] ?? null;
        entries.set(row.entity, { time: row.time, values, expiresAt: now + view.ttl });
      }
      writes += rows.length;
      if (writes >= SWEEP_EVERY) {
        writes = 0;
        for (const e of views.values()) sweep(e, now);
      }
    },
    async get(view: string, entities: readonly string[]): Promise<(OnlineFeatures | null)[]> {
      const held = views.get(view);
      const now = clock();
      return entities.map((entity) => {
        const entry = held?.get(entity);
        if (entry === undefined) return null;
        if (entry.expiresAt <= now) {
          held!.delete(entity);
          return null;
        }
        return { time: entry.time, values: { ...entry.values } };
      });
    },
    async close(): Promise<void> {
      views.clear();
    },
  };
}
