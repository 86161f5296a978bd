import { RtmlError } from '../engine/errors.ts';
import type { FeatureStore, FeatureView } from '../engine/features.ts';
import { featureStore, type RtmlFeatureStore } from '../connectors/features/featureStore.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import { DEFAULT_OFFLINE, offlineStoreFromUri, onlineStoreFromUri } from '../connectors/features/uri.ts';
import { nullSink } from '../connectors/null/sink.ts';
import { runCommand } from './run.ts';

export interface BackfillOptions {
  source: string[];
  view: string[];
  offline?: string;
  online?: string;
  from?: string;
  to?: string;
  batchSize?: number;
  progress: boolean;
}

/** Keeps the offline store only: a backfill writes history, the live run owns the online values. */
function noOnline(): OnlineStore {
  return { description: 'none', write: async () => {}, get: async (_view, entities) => entities.map(() => null), close: async () => {} };
}

/** Only the views asked for are written; the topology's other views are computed and dropped. */
function onlyViews(store: RtmlFeatureStore, names: readonly string[]): RtmlFeatureStore {
  if (names.length === 0) return store;
  const wanted = new Set(names);
  const open: FeatureStore['open'] = async (views: readonly FeatureView[]) => {
    const missing = names.filter((n) => !views.some((v) => v.name === n));
    if (missing.length > 0) {
      throw new RtmlError('RTML_E_USAGE', `backfill --view ${missing.join(', ')}: the topology materializes ${views.map((v) => v.name).join(', ') || 'no views'}`);
    }
    const writer = await store.open(views.filter((v) => wanted.has(v.name)));
    return {
      write: (view, row) => (wanted.has(view.name) ? writer.write(view, row) : undefined),
      get pending() {
        return writer.pending;
      },
      flush: () => writer.flush(),
      close: () => writer.close(),
    };
  };
  return Object.assign(Object.create(store) as RtmlFeatureStore, { open });
}

/**
 * `rtml backfill <topology>`: recomputes feature views from the log (a range of it, or all) into
 * the offline store, and into an online store only when --online is given. It runs with its own
 * state (no checkpoint), discards the topology's sinks, and writes idempotent upserts, so it can run
 * beside a live run of the same topology without disturbing it.
 */
export async function backfillCommand(file: string, options: BackfillOptions): Promise<void> {
  const range = options.from === undefined && options.to === undefined ? undefined : { from: options.from, to: options.to };
  await runCommand(
    file,
    // Only complete windows: a window the range cuts would overwrite the stores' correct rows.
    { source: options.source, sink: [], from: 'earliest', follow: false, progress: options.progress, batchSize: options.batchSize, range, cutWindows: 'drop' },
    {
      defaultSink: nullSink(),
      features: (signal) =>
        onlyViews(
          featureStore({
            online: options.online === undefined ? noOnline() : onlineStoreFromUri(options.online),
            offline: offlineStoreFromUri(options.offline ?? DEFAULT_OFFLINE),
            signal,
          }),
          options.view,
        ),
    },
  );
}
