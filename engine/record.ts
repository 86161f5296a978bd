import type { RecordKey } from './io.ts';

/** What became of one input event; every event ends in exactly one (docs/semantics.md, bad input). */
export const Outcome = { Processed: 0, Late: 1, DeadLettered: 2 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Where an event an operator held back came from, for its dead letter. */
export interface EarlierRecord {
  source: string;
  partition: number;
  offset: number;
  time: number;
  value: unknown;
}

/**
 * The fields of the record context an operator changes for what it emits: keyBy the key, aggregate
 * the key, time and result of a window, emitHeld every coordinate of a held-back event. A field the
 * frame does not name keeps its value.
 */
export interface RecordFrame {
  key?: RecordKey | undefined;
  time?: number;
  source?: string;
  partition?: number;
  offset?: number;
  held?: EarlierRecord | undefined;
  result?: unknown;
  cut?: boolean;
}

/**
 * The record being processed. Event values flow through rxjs as plain objects; their event time,
 * key and source coordinates travel beside them here, the way Kafka Streams' ProcessorContext does.
 * This works because the engine pushes each event through the operators synchronously. The
 * scheduler sets it for each input event (`enter`); an operator that emits under other coordinates
 * does so through `within`, which restores them when its downstream returns.
 */
export class RecordContext {
  key: RecordKey | undefined = undefined;
  time = Number.NaN;
  source = '';
  partition = 0;
  offset = 0;
  /** The decoded input value, and its text when it could not be decoded (for dead letters). */
  value: unknown = undefined;
  raw: string | undefined = undefined;
  outcome: Outcome = Outcome.Processed;
  /**
   * The window result travelling downstream while aggregate() emits it, else undefined: a dead
   * letter then is the result's, and leaves the outcome of the input event that fired it alone.
   */
  result: unknown = undefined;
  /**
   * The event an operator held back (score, enrich from the online store) while it passes it on
   * later, else undefined: a dead letter downstream then is that event's (see emitHeld).
   */
  held: EarlierRecord | undefined = undefined;
  /** The window result being emitted is cut by a replay range's edge: computed from part of its events. */
  cut = false;

  /** Makes an input event the current record (the scheduler, once per event read). */
  enter(source: string, partition: number, offset: number, value: unknown, raw: string | undefined, time: number): void {
    this.source = source;
    this.partition = partition;
    this.offset = offset;
    this.value = value;
    this.raw = raw;
    this.key = undefined;
    this.time = time;
    this.outcome = Outcome.Processed;
    this.result = undefined;
    this.held = undefined;
    this.cut = false;
  }

  /**
   * Calls `next(value)` with the fields `frame` names set, then restores every field, also when
   * `next` throws. The frame is read before `next` runs, so a caller may reuse one frame object
   * for every event (no allocation per event on the hot path).
   */
  within<V>(frame: RecordFrame, next: (value: V) => void, value: V): void {
    const { key, time, source, partition, offset, held, result, cut } = this;
    if ('key' in frame) this.key = frame.key;
    if (frame.time !== undefined) this.time = frame.time;
    if (frame.source !== undefined) this.source = frame.source;
    if (frame.partition !== undefined) this.partition = frame.partition;
    if (frame.offset !== undefined) this.offset = frame.offset;
    if ('held' in frame) this.held = frame.held;
    if ('result' in frame) this.result = frame.result;
    if (frame.cut !== undefined) this.cut = frame.cut;
    try {
      next(value);
    } finally {
      this.key = key;
      this.time = time;
      this.source = source;
      this.partition = partition;
      this.offset = offset;
      this.held = held;
      this.result = result;
      this.cut = cut;
    }
  }
}

/** An event an operator held back, with the record context it had. */
export interface HeldEvent extends EarlierRecord {
  key: RecordKey | undefined;
  /** The window result it is part of, when it is one (see RecordContext.result). */
  result: unknown;
}

/** What the current record context holds about a held-back `event`. */
export function holdEvent(record: RecordContext, event: unknown): HeldEvent {
  return { key: record.key, time: record.time, source: record.source, partition: record.partition, offset: record.offset, value: event, result: record.result };
}

/** Passes held-back events on (`emit`), each with the record context it had when it arrived. */
export function emitHeld<H extends HeldEvent>(record: RecordContext, batch: readonly H[], emit: (held: H, index: number) => void): void {
  const frame: RecordFrame = { key: undefined, time: 0, source: '', partition: 0, offset: 0, held: undefined, result: undefined };
  const emitAt = (i: number): void => emit(batch[i]!, i);
  for (let i = 0; i < batch.length; i++) {
    const h = batch[i]!;
    frame.key = h.key;
    frame.time = h.time;
    frame.source = h.source;
    frame.partition = h.partition;
    frame.offset = h.offset;
    frame.held = h;
    frame.result = h.result;
    record.within(frame, emitAt, i);
  }
}
