import type { Stateful } from './checkpoint.ts';
import type { FeatureRow, FeatureValue } from './features.ts';

interface Entry {
  time: number;
  values: Readonly<Record<string, FeatureValue>>;
}

/**
 * The latest features per entity of a view materialised in this topology, for enrich(): a local
 * stream-table join, no store round trip. Rows are staged while an input event is processed and
 * committed after it, so an event only sees features computed from the events before it, whatever
 * the order of the topology's branches. Newer rows (by time) win, as in the online store.
 */
export class FeatureTable implements Stateful {
  /** Only a table some enrich() reads keeps rows. */
  enriched = false;
  private readonly latest = new Map<string, Entry>();
  private staged: FeatureRow[] = [];

  get(entity: string): Readonly<Record<string, FeatureValue>> | undefined {
    return this.latest.get(entity)?.values;
  }

  stage(row: FeatureRow): void {
    if (this.enriched) this.staged.push(row);
  }

  commit(): void {
    if (this.staged.length === 0) return;
    for (const row of this.staged) {
      const current = this.latest.get(row.entity);
      if (current === undefined || row.time >= current.time) this.latest.set(row.entity, { time: row.time, values: row.values });
    }
    this.staged = [];
  }

  snapshot(): [string, Entry][] {
    return [...this.latest];
  }

  restore(state: unknown): void {
    this.latest.clear();
    for (const [entity, entry] of state as [string, Entry][]) this.latest.set(entity, entry);
  }
}
