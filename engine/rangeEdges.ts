import type { LogPosition } from './io.ts';

/**
 * The edges of a ranged run (`rtml replay` / `rtml backfill` with --from/--to) as the window
 * operators see them: a window is whole when every event that could fall in it lies inside the
 * range; the others are "cut" by an edge and counted — emitted marked (never written to the feature
 * stores) or not at all (`drop`) (README "Replaying and backfilling a range").
 *
 * A window `[start, end)` of lateness L is complete when `start >= this.start` (sessions:
 * `start >= this.start + gap`) and `end + L <= this.end`.
 */
export interface WindowEdges {
  /**
   * Cut windows are not emitted at all (backfill, replay --complete-windows); else they fire as
   * any window does (docs/semantics.md: at the end of a replay range every open window fires), marked
   * cut, and materialize() does not write them over the stores' rows.
   */
  readonly drop: boolean;
  /** Event time from which every event is inside the range (-inf: no start edge). */
  readonly start: number;
  /** Event time before which every event is inside the range (+inf: no end edge). */
  readonly end: number;
  /** Counts `n` windows (per key) that fired while an edge cuts them. */
  cut(n: number): void;
}

/**
 * Edges from a run's range, in event time:
 *
 * - `--from TIME`: the start edge is TIME (the range holds every record stamped at or after it that
 *   comes after the first one, and nothing stamped before it comes earlier).
 * - `--to TIME` (inclusive): the end edge is `TIME + 1 - outOfOrder`: a record past the range may be
 *   stamped up to `outOfOrder` before the first one stamped after TIME.
 * - `--from OFFSET`: per partition, records before the range are stamped at most `outOfOrder` after
 *   the partition's first record read; the start edge is the latest of those bounds + 1.
 * - `--to OFFSET`: per partition, records after the range are stamped at least `outOfOrder` before
 *   its last record in the range (the log source tells that time before the run: the range's end
 *   edge is the earliest of those bounds; a partition whose range reaches its end has none). A source
 *   that cannot tell: the latest time read so far instead, learnt as the run goes (it only moves later,
 *   so a window judged complete stays complete, but a window with lateness may be cut for want of it).
 * - No `--from` (the log's start) and no `--to` (the log's end at start): no edge there.
 *
 * Partitions whose range is empty do not count. Records are assumed stamped with their event time
 * (as `rtml produce` does) and out of order by at most the sources' largest `outOfOrder`.
 */
export class RangeEdges implements WindowEdges {
  windowsCut = 0;
  /** The largest `outOfOrder` of the topology's sources (set once it is built). */
  outOfOrder = 0;
  private readonly fromTime: number | undefined;
  private readonly toTime: number | undefined;
  private readonly fromOffset: boolean;
  private readonly toOffset: boolean;
  /** Per lane (watermark slot): the time of its first record read, and the latest time read. */
  private readonly firsts: number[] = [];
  private readonly latest: number[] = [];
  /** Per lane, when its source tells (SourceReader.rangeEndTimes): the time of its last record in the range. */
  private readonly lastInRange: number[] = [];
  private startValue = -Infinity;
  private endValue = -Infinity;
  private endDirty = false;

  constructor(
    range: { from?: LogPosition; to?: LogPosition },
    readonly drop: boolean,
    private readonly onCut: (n: number) => void = () => {},
  ) {
    const { from, to } = range;
    this.fromTime = from !== undefined && 'time' in from ? from.time : undefined;
    this.toTime = to !== undefined && 'time' in to ? to.time : undefined;
    this.fromOffset = from !== undefined && 'offset' in from;
    this.toOffset = to !== undefined && 'offset' in to;
  }

  /** True when the range has an edge (else windows need no checking). */
  get active(): boolean {
    return this.fromTime !== undefined || this.toTime !== undefined || this.fromOffset || this.toOffset;
  }

  get start(): number {
    if (this.fromTime !== undefined) return this.fromTime;
    return this.fromOffset ? this.startValue : -Infinity;
  }

  get end(): number {
    if (this.toTime !== undefined) return this.toTime + 1 - this.outOfOrder;
    if (!this.toOffset) return Infinity;
    if (this.endDirty) {
      let min = Infinity;
      for (let lane = 0; lane < Math.max(this.latest.length, this.lastInRange.length); lane++) {
        const t = this.lastInRange[lane] ?? this.latest[lane];
        if (t !== undefined && t < min) min = t;
      }
      this.endValue = min - this.outOfOrder;
      this.endDirty = false;
    }
    return this.endValue;
  }

  cut(n: number): void {
    this.windowsCut += n;
    this.onCut(n);
  }

  /** A batch of `n` records of a lane was loaded (times NaN for bad records). */
  loaded(lane: number, times: Float64Array, n: number): void {
    if (this.firsts[lane] !== undefined || (!this.fromOffset && !this.toOffset)) return;
    for (let i = 0; i < n; i++) {
      const t = times[i]!;
      if (t !== t) continue;
      this.firsts[lane] = t;
      if (this.fromOffset) {
        const bound = t + this.outOfOrder + 1;
        if (bound > this.startValue) this.startValue = bound;
      }
      if (this.toOffset && !(this.latest[lane]! >= t)) {
        this.latest[lane] = t;
        this.endDirty = true;
      }
      return;
    }
  }

  /**
   * The time stamped on a lane's last record in the range (+inf: the range reaches its end), known
   * before the run: the end edge is then fixed, so a window with lateness is judged when it fires.
   */
  rangeEnd(lane: number, time: number): void {
    if (!this.toOffset) return;
    this.lastInRange[lane] = time;
    this.endDirty = true;
  }

  /** A record of a lane with a valid event time was pushed through the topology. */
  dispatched(lane: number, time: number): void {
    if (this.toOffset && time > this.latest[lane]!) {
      this.latest[lane] = time;
      this.endDirty = true;
    }
  }
}
