import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, RtmlError } from '../errors.ts';
import type { InputRecord, SourceReader } from '../io.ts';
import type { RangeEdges } from '../rangeEdges.ts';
import type { RecordContext } from '../record.ts';
import type { Exchange } from './exchange.ts';
import type { FeatureAccess } from './featureAccess.ts';
import type { Lane } from './lanes.ts';
import type { OperatorStates } from './operatorStates.ts';
import type { Outcomes } from './outcomes.ts';
import type { WatermarkTracker } from './watermarks.ts';

/** What the scheduler asks of the run around its loop. */
export interface SchedulerHooks {
  fail(err: unknown): void;
  /** After each burst of input: the operators that batch flush. */
  endBurst(): Promise<void>;
  /** Then, unless the input has ended: sinks, checkpoints and commits. */
  afterBurst(follow: boolean): Promise<void>;
  /** Called at most every 100 ms, and once at the end. */
  progress(): void;
}

export interface SchedulerOptions {
  follow: boolean;
  batchSize: number;
  pollInterval: number;
  signal: AbortSignal | undefined;
}

/**
 * The scheduling and merge loop: reads every lane (a partition of a source), merges their records
 * in a deterministic order — by event time, ties by source then partition order — whatever the
 * batch sizes and read timing, and pushes each through the topology (`dispatch`), advancing the
 * watermark after each event (docs/semantics.md, time and determinism).
 */
export class Scheduler {
  readonly lanes: Lane[] = [];
  /** Set when the run fails: the loop stops after the event being dispatched. */
  failed = false;

  constructor(
    private readonly record: RecordContext,
    private readonly watermarks: WatermarkTracker,
    private readonly states: OperatorStates,
    private readonly outcomes: Outcomes,
    private readonly features: FeatureAccess,
    private readonly exchange: Exchange,
    private readonly edges: RangeEdges | undefined,
    private readonly hooks: SchedulerHooks,
  ) {}

  /** True once every lane has ended (a bounded input read to its end). */
  get completed(): boolean {
    return this.lanes.every((l) => l.ended);
  }

  /** The distinct readers of the lanes (a reader serves every partition of its source). */
  readers(): Set<SourceReader> {
    return new Set(this.lanes.map((l) => l.reader));
  }

  async loop(options: SchedulerOptions): Promise<void> {
    const { lanes, hooks } = this;
    const { follow, batchSize, pollInterval, signal } = options;
    const hasIdleTimeouts = lanes.some((l) => l.source.idleTimeout < Infinity);
    let lastProgress = 0;
    // Live: a lane that read nothing is read again after pollInterval, or as soon as its reader
    // says records may have arrived (SourceReader.whenReadable), which also ends an idle wait.
    const watched = new Set<SourceReader>();
    let wake: (() => void) | undefined;
    const watch = (reader: SourceReader) => {
      if (reader.whenReadable === undefined || watched.has(reader)) return;
      watched.add(reader);
      void reader.whenReadable().then(() => {
        watched.delete(reader);
        for (const lane of lanes) if (lane.reader === reader) lane.retryAt = 0;
        wake?.();
      });
    };
    while (!this.failed && !signal?.aborted) {
      const now = Date.now();
      const reads: Promise<void>[] = [];
      for (const lane of lanes) {
        if (!lane.ended && !lane.hasRecords && (!follow || now >= lane.retryAt)) reads.push(this.refill(lane, batchSize, pollInterval));
      }
      if (reads.length > 0) await Promise.all(reads);
      if (this.failed) break;
      if (follow) for (const lane of lanes) if (!lane.ended && !lane.hasRecords && lane.retryAt > now) watch(lane.reader);
      if (hasIdleTimeouts) this.advanced(this.watermarks.checkIdle());
      const dispatched = lanes.length === 1 ? this.drainOne(lanes[0]!) : this.drainMerged(follow);
      await hooks.endBurst();
      if (this.completed) break;
      await hooks.afterBurst(follow);
      if (now - lastProgress >= 100) {
        lastProgress = now;
        hooks.progress();
      }
      // Idle (no lane due: one woken meanwhile is read at once) until the poll interval, a wake or a stop.
      if (dispatched === 0 && follow && lanes.every((l) => l.ended || (!l.hasRecords && l.retryAt > Date.now()))) {
        const woken = new AbortController();
        wake = () => woken.abort();
        signal?.addEventListener('abort', wake);
        await sleep(pollInterval, undefined, { signal: woken.signal }).catch(() => {});
        signal?.removeEventListener('abort', wake);
        wake = undefined;
      }
    }
    hooks.progress();
  }

  /** Done and total of the bounded inputs, in the sources' units (records or bytes). */
  progress(): { done: number; total: number | undefined } {
    let done = 0;
    let total: number | undefined;
    for (const reader of this.readers()) {
      const p = reader.progress();
      if (p) {
        done += p.done;
        total = (total ?? 0) + p.total;
      }
    }
    return { done, total };
  }

  private async refill(lane: Lane, batchSize: number, pollInterval: number): Promise<void> {
    let batch: InputRecord[] | null;
    try {
      batch = await lane.reader.read(lane.partition, batchSize);
    } catch (err) {
      this.hooks.fail(new RtmlError('RTML_E_PIPELINE', `source '${lane.source.name}' partition ${lane.partition}: ${errorMessage(err)}`, { cause: err }));
      return;
    }
    if (batch === null) {
      lane.end();
      this.advanced(this.watermarks.finish(lane.slot));
    } else if (batch.length === 0) {
      lane.retryAt = Date.now() + pollInterval;
      lane.caughtUp = true;
    } else {
      lane.caughtUp = false;
      lane.load(batch);
      this.edges?.loaded(lane.slot, lane.times, batch.length);
    }
  }

  private drainOne(lane: Lane): number {
    let n = 0;
    while (lane.hasRecords && !this.failed) {
      this.dispatch(lane);
      n++;
    }
    return n;
  }

  /**
   * Merges the lanes' heads by event time (a bad record goes first: it has no time to wait for).
   * Bounded: every unfinished lane must have a head, so the order never depends on read timing.
   * Live: the same, except that lanes caught up with their partition (their last read found
   * nothing new) are passed over: only records arriving at the live edge merge in arrival order.
   */
  private drainMerged(follow: boolean): number {
    const { lanes } = this;
    let n = 0;
    while (!this.failed) {
      let best: Lane | undefined;
      let bestTime = Infinity;
      for (let i = 0; i < lanes.length; i++) {
        const lane = lanes[i]!;
        if (lane.pos >= lane.records.length) {
          // A lane that may hold more (bounded, or live and not caught up: a backlog) is read again
          // first, so a live run catching up merges by event time exactly as a replay does.
          if (!lane.ended && (!follow || !lane.caughtUp)) return n;
          continue;
        }
        const time = lane.times[lane.pos]!;
        if (time !== time) {
          best = lane;
          break;
        }
        if (best === undefined || time < bestTime) {
          best = lane;
          bestTime = time;
        }
      }
      if (best === undefined) return n;
      this.dispatch(best);
      n++;
    }
    return n;
  }

  /** Tells the operators the watermark, when it moved. */
  advanced(moved: boolean): void {
    if (moved) this.states.advance(this.watermarks.watermark);
  }

  /** Pushes the lane's next record through the topology and accounts for its outcome. */
  private dispatch(lane: Lane): void {
    const index = lane.pos++;
    const input = lane.records[index]!;
    lane.lastOffset = input.offset;
    const time = lane.times[index]!;
    const source = lane.source;
    let slot = lane.slot;
    if (source === this.exchange.source) {
      slot = this.exchange.route(lane, input.value);
      if (slot < 0) return;
    }
    this.record.enter(source.name, lane.partition, input.offset, input.value, input.raw, time);
    this.outcomes.beginDispatch(source.name, lane.partition, input.offset);
    if (time !== time) {
      this.outcomes.deadLetter(lane.reasons.get(index)!);
    } else {
      const subscribers = source.subscribers;
      for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(input.value);
      if (this.edges !== undefined) this.edges.dispatched(lane.slot, time);
      this.advanced(this.watermarks.observe(slot, time));
    }
    this.outcomes.endDispatch();
    this.features.commitTables();
  }
}
