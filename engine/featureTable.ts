import type { Stateful } from './state.ts';
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
 *
 * A view's `ttl` applies in event time: values valid from `time` are gone for an event at `t` once
 * `t >= time + ttl`, or once the watermark has passed `time + ttl` — then they are also freed (and
 * left out of checkpoints). Both depend only on the input order, so results stay deterministic.
 */
export class FeatureTable implements Stateful {
  /** Only a table some enrich() reads keeps rows. */
  enriched = false;
  private readonly latest = new Map<string, Entry>();
  private staged: FeatureRow[] = [];
  private watermark = -Infinity;
  /** The watermark of the last sweep for expired entries. */
  private swept = -Infinity;

  constructor(private readonly ttl: number = Infinity) {}

  /** The entity's values an event at `time` sees; undefined when it has none or they expired. */
  get(entity: string, time: number): Readonly<Record<string, FeatureValue>> | undefined {
    const entry = this.latest.get(entity);
    if (entry === undefined) return undefined;
    const expires = entry.time + this.ttl;
    return time >= expires || this.watermark >= expires ? undefined : entry.values;
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

  /**
   * Follows the watermark. Entries past their ttl are swept each time it has moved on by an eighth
   * of the ttl, so expired state stays a bounded fraction of the live state.
   */
  advance(watermark: number): void {
    this.watermark = watermark;
    if (this.ttl === Infinity || watermark - this.swept < this.ttl / 8) return;
    this.swept = watermark;
    for (const [entity, entry] of this.latest) if (watermark >= entry.time + this.ttl) this.latest.delete(entity);
  }

  snapshot(): [string, Entry][] {
    return [...this.latest].filter(([, entry]) => this.watermark < entry.time + this.ttl);
  }

  restore(state: unknown): void {
    this.latest.clear();
    for (const [entity, entry] of state as [string, Entry][]) this.latest.set(entity, entry);
  }
}
