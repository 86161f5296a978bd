import { RtmlError } from '../errors.ts';
import { FeatureTable } from '../featureTable.ts';
import type { FeatureLookup, FeatureRow, FeatureStore, FeatureView, FeatureWriter } from '../features.ts';
import type { FeatureCapability } from '../host.ts';
import type { OperatorStates } from './operatorStates.ts';

/** Feature rows are written in batches of this many (live runs write at every poll). */
const FLUSH_FEATURE_ROWS = 10_000;

/**
 * The run's feature views: the views materialize() writes, the tables enrich() reads the
 * topology's own values from, the views enrich() looks up in the online store, and the writer to
 * the run's feature store, flushed in the background while processing goes on.
 */
export class FeatureAccess implements FeatureCapability {
  private readonly views = new Map<string, FeatureView>();
  private readonly tables = new Map<string, { table: FeatureTable; readers: string[] }>();
  /** Views enrich() reads from the online store: their readers, for start-up checks. */
  private readonly lookups = new Map<string, string[]>();
  /** Tables read by enrich(): committed after each input event. */
  private enriched: FeatureTable[] = [];
  private store: FeatureWriter | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly topology: string,
    private readonly states: OperatorStates,
    private readonly features: FeatureStore | undefined,
    private readonly fail: (err: unknown) => void,
  ) {}

  writer(view: FeatureView): Pick<FeatureWriter, 'write'> {
    const known = this.views.get(view.name);
    if (known !== undefined && known !== view) {
      throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' is declared twice (${known.at} and ${view.at})`);
    }
    this.views.set(view.name, view);
    return { write: (v: FeatureView, row: FeatureRow) => this.store!.write(v, row) };
  }

  table(view: FeatureView, reader?: string): FeatureTable {
    let entry = this.tables.get(view.name);
    if (!entry) {
      entry = { table: new FeatureTable(view.ttl), readers: [] };
      this.tables.set(view.name, entry);
    }
    if (reader !== undefined && !entry.table.enriched) {
      entry.table.enriched = true;
      const { table } = entry;
      this.states.onWatermark((w) => table.advance(w));
      this.states.register(`${this.topology}/table-${view.name}`, table, JSON.stringify({ entity: view.entity, time: view.time, features: view.features }));
    }
    if (reader !== undefined) entry.readers.push(reader);
    return entry.table;
  }

  lookup(view: FeatureView, reader: string): FeatureLookup {
    const readers = this.lookups.get(view.name) ?? [];
    readers.push(reader);
    this.lookups.set(view.name, readers);
    return (entities) => this.features!.read!(view, entities);
  }

  /** Checks, once the topology is built, that what it reads is there and that a store is bound. */
  check(): void {
    for (const [name, { readers }] of this.tables) {
      if (readers.length > 0 && !this.views.has(name)) {
        throw new RtmlError('RTML_E_FEATURE_VIEW', `${readers[0]} reads feature view '${name}', which this topology does not materialize: add materialize(...) for it`);
      }
    }
    for (const [name, readers] of this.lookups) {
      if (this.views.has(name)) {
        throw new RtmlError('RTML_E_FEATURE_VIEW', `${readers[0]} reads feature view '${name}' from the online store, but this topology materializes it: leave out from: 'online' (enrich() then reads the topology's own values, deterministically)`);
      }
      if (this.features?.read === undefined) {
        throw new RtmlError('RTML_E_BINDING', `${readers[0]} reads feature view '${name}' from the online store, but this run has no feature store that can read it (rtml run --online URI)`);
      }
    }
    this.enriched = [...this.tables.values()].filter((t) => t.table.enriched).map((t) => t.table);
    if (this.views.size > 0 && this.features === undefined) {
      throw new RtmlError('RTML_E_BINDING', `topology '${this.topology}' materializes feature view(s) ${[...this.views.keys()].join(', ')} but no feature store is bound`);
    }
  }

  /** Opens the feature store when the topology writes or looks up views (closing it closes the stores). */
  async open(): Promise<{ close(): Promise<void> } | undefined> {
    if (this.views.size === 0 && this.lookups.size === 0) return undefined;
    this.store = await this.features!.open([...this.views.values()]);
    return this.store;
  }

  /** After each input event: what enrich() reads reflects it from the next event on. */
  commitTables(): void {
    const tables = this.enriched;
    for (let i = 0; i < tables.length; i++) tables[i]!.commit();
  }

  /** Rows written but not yet flushed (metrics). */
  get pending(): number | undefined {
    return this.store?.pending;
  }

  get opened(): boolean {
    return this.store !== undefined;
  }

  /**
   * Rows are written in the background while processing goes on (one flush at a time); processing
   * waits only when rows pile up. `all`: a live run writes every row at every poll.
   */
  async flushSome(all: boolean): Promise<void> {
    const store = this.store;
    if (!store) return;
    if (this.flushing === undefined) {
      if (store.pending >= (all ? 1 : FLUSH_FEATURE_ROWS)) {
        this.flushing = store
          .flush()
          .catch((err: unknown) => this.fail(err))
          .finally(() => (this.flushing = undefined));
      }
    } else if (store.pending >= 4 * FLUSH_FEATURE_ROWS) {
      await this.flushing;
    }
  }

  /** Writes every row (checkpoints and the end of a run). */
  async flush(): Promise<void> {
    if (this.store) await this.store.flush();
  }
}
