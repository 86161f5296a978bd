import type { FeatureRow, FeatureStore, FeatureView, FeatureWriter } from '../../engine/features.ts';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import type { OfflineStore, OnlineFeatures, OnlineStore } from './stores.ts';
import { retryWithBackoff, unreachableReason } from '../../storage/index.ts';
import { logLine } from '../../engine/log.ts';

/**
 * A run's feature store: every row goes to the offline store (history, for training sets), then
 * to the online store (latest values, for serving).
 *
 * 1. `write` buffers rows per view and never blocks; `pending` counts rows not yet in both stores.
 * 2. `flush` writes each view's rows offline, then online. While a store is unreachable it retries
 *    with exponential backoff (100 ms doubling to 5 s), logs one line when a failure streak starts
 *    and one when it ends, and resolves only once everything is written, so a checkpoint is never
 *    taken past unwritten features. Other errors (a bad statement) reject at once.
 * 3. `close` flushes, then closes both stores.
 *
 * ```ts
 * const features = featureStore({ online: redisOnline('redis://127.0.0.1:6379'), offline: postgresOffline('postgres://postgres@127.0.0.1/test') });
 * await runTopology(topology, { sources, sinks, features });
 * ```
 */

export interface FeatureStoreOptions {
  online: OnlineStore;
  offline: OfflineStore;
  /** One line per retry streak (default: stderr). */
  log?: (line: string) => void;
  /** Backoff of retries while a store is unreachable (default 100 ms doubling up to 5 s). */
  retry?: { initialMs?: number; maxMs?: number };
  /** Gives up retrying: flush and close reject with RTML_E_STORE. */
  signal?: AbortSignal;
}

export interface FeatureStoreStats {
  /** Rows written to both stores. */
  rowsWritten: number;
  /** Attempts that failed because a store was unreachable, and were retried. */
  retries: number;
  /** The last failure, e.g. `postgres://…: ECONNREFUSED`. */
  lastError: string | undefined;
  /** True while a store is unreachable and an attempt waits to be retried. */
  unavailable: boolean;
}

export interface RtmlFeatureStore extends FeatureStore {
  readonly stats: Readonly<FeatureStoreStats>;
  readonly online: OnlineStore;
  readonly offline: OfflineStore;
}

export function featureStore(options: FeatureStoreOptions): RtmlFeatureStore {
  const { online, offline, signal } = options;
  const log = options.log ?? ((line: string) => logLine(line, 'warn'));
  const initialMs = options.retry?.initialMs ?? 100;
  const maxMs = options.retry?.maxMs ?? 5_000;
  const stats: FeatureStoreStats = { rowsWritten: 0, retries: 0, lastError: undefined, unavailable: false };
  /** Attempts in a failure streak now (writes and reads may retry at the same time). */
  let failing = 0;

  /** Runs `attempt` until it succeeds, waiting out unreachable stores (storage/retry.ts). */
  async function retrying<T>(store: string, what: string, attempt: () => Promise<T>): Promise<T> {
    let failures = 0;
    try {
      return await retryWithBackoff(attempt, {
        initialMs,
        maxMs,
        signal,
        retryable: unreachableReason,
        onRetry({ reason, delayMs }) {
          stats.retries++;
          stats.lastError = `${store}: ${reason}`;
          if (failures++ > 0) return;
          if (failing++ === 0) stats.unavailable = true;
          log(`rtml: feature store ${store} unreachable (${reason}); retrying in ${seconds(delayMs)}`);
        },
        onRecovered: (retries, elapsedMs) => log(`rtml: feature store ${store} reachable again after ${retries} retr${retries === 1 ? 'y' : 'ies'} (${seconds(elapsedMs)})`),
        giveUp: ({ reason, failures: attempts, error }) => new RtmlError('RTML_E_STORE', `feature store ${store} unreachable (${reason}): gave up ${what} after ${attempts} attempt(s)`, { cause: error }),
      });
    } catch (err) {
      throw err instanceof RtmlError ? err : new RtmlError('RTML_E_STORE', `feature store ${store}: ${what} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      // This call's outage is over (it succeeded, or gave up): the store may no longer count as unavailable.
      if (failures > 0 && --failing === 0) stats.unavailable = false;
    }
  }

  return {
    description: `online ${online.description}, offline ${offline.description}`,
    stats,
    online,
    offline,
    read(view: FeatureView, entities: readonly string[]): Promise<(OnlineFeatures | null)[]> {
      return retrying(online.description, `reading view '${view.name}'`, () => online.get(view.name, entities));
    },
    async open(views: readonly FeatureView[]): Promise<FeatureWriter> {
      for (const view of views) await retrying(offline.description, `creating view '${view.name}'`, () => offline.ensureView(view));
      return new BufferedWriter(views, async (view, rows) => {
        await retrying(offline.description, `writing view '${view.name}'`, () => offline.write(view, rows));
        await retrying(online.description, `writing view '${view.name}'`, () => online.write(view, rows));
        stats.rowsWritten += rows.length;
      }, async () => {
        const closing = await Promise.allSettled([offline.close(), online.close()]);
        for (const c of closing) if (c.status === 'rejected') throw c.reason;
      });
    },
  };
}

/** Latest values of `entities` in `view` for serving: one round trip whatever their number. */
export function getOnlineFeatures(store: OnlineStore, view: string, entities: readonly string[]): Promise<(OnlineFeatures | null)[]> {
  return store.get(view, entities);
}

interface ViewBuffer {
  view: FeatureView;
  rows: FeatureRow[];
}

class BufferedWriter implements FeatureWriter {
  private readonly buffers = new Map<string, ViewBuffer>();
  private buffered = 0;
  private inFlight = 0;
  /** Flushes run one after another: a flush called during another waits for it, then writes what is left. */
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    views: readonly FeatureView[],
    private readonly writeRows: (view: FeatureView, rows: FeatureRow[]) => Promise<void>,
    private readonly closeStores: () => Promise<void>,
  ) {
    for (const view of views) this.buffers.set(view.name, { view, rows: [] });
  }

  get pending(): number {
    return this.buffered + this.inFlight;
  }

  write(view: FeatureView, row: FeatureRow): void {
    const buffer = this.buffers.get(view.name);
    if (buffer === undefined) throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' was not opened on this feature store`);
    if (this.closed) throw new RtmlError('RTML_E_STORE', `feature view '${view.name}': the feature writer is closed`);
    if (!Number.isSafeInteger(row.time)) {
      throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' at ${view.at}: time ${row.time} of entity '${row.entity}' is not a whole number of epoch ms`);
    }
    buffer.rows.push(row);
    this.buffered++;
  }

  flush(): Promise<void> {
    const done = this.flushing.then(() => this.flushBuffers());
    this.flushing = done.catch(() => {});
    return done;
  }

  private async flushBuffers(): Promise<void> {
    for (const buffer of this.buffers.values()) {
      if (buffer.rows.length === 0) continue;
      const rows = buffer.rows;
      buffer.rows = [];
      this.buffered -= rows.length;
      this.inFlight += rows.length;
      try {
        await this.writeRows(buffer.view, rows);
      } catch (err) {
        // Not written: back in front of what was buffered meanwhile, still pending.
        buffer.rows = rows.concat(buffer.rows);
        this.buffered += rows.length;
        throw err;
      } finally {
        this.inFlight -= rows.length;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.closeStores();
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
