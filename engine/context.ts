import type { Observable } from 'rxjs';
import { RtmlError } from './errors.ts';
import type { Stateful } from './checkpoint.ts';
import type { FeatureTable } from './featureTable.ts';
import type { FeatureLookup, FeatureView, FeatureWriter } from './features.ts';
import type { ModelProvider } from './models.ts';
import type { RecordKey } from './io.ts';
import type { WindowEdges } from './rangeEdges.ts';
import type { RunCounter } from './metrics.ts';

/** What became of one input event; every event ends in exactly one (docs/semantics.md, bad input). */
export const Outcome = { Processed: 0, Late: 1, DeadLettered: 2 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * The record being processed. Event values flow through rxjs as plain objects; their event time,
 * key and source coordinates travel beside them here, the way Kafka Streams' ProcessorContext does.
 * This works because the engine pushes each event through the operators synchronously: an operator
 * that sets a field (keyBy sets `key`) restores it after its downstream returns.
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

/**
 * Passes held-back events on (`emit`), each with the record context it had when it arrived, then
 * restores the current one.
 */
export function emitHeld<H extends HeldEvent>(record: RecordContext, batch: readonly H[], emit: (held: H, index: number) => void): void {
  const saved = { key: record.key, time: record.time, source: record.source, partition: record.partition, offset: record.offset, held: record.held, result: record.result };
  try {
    for (let i = 0; i < batch.length; i++) {
      const h = batch[i]!;
      record.key = h.key;
      record.time = h.time;
      record.source = h.source;
      record.partition = h.partition;
      record.offset = h.offset;
      record.held = h;
      record.result = h.result;
      emit(h, i);
    }
  } finally {
    Object.assign(record, saved);
  }
}

/** Where an event an operator held back came from, for its dead letter. */
export interface EarlierRecord {
  source: string;
  partition: number;
  offset: number;
  time: number;
  value: unknown;
}

/** What a late event is handed to: writes it to the window's late sink, or counts it dropped. */
export type LateOutput = (event: unknown) => void;

/** The services a running topology gives its operators. */
export interface OperatorHost {
  readonly topology: string;
  readonly record: RecordContext;
  /** Stable id of a stateful operator, from the topology name, its kind and its position. */
  operatorId(kind: string): string;
  /**
   * Declares an operator's state under its id, for checkpoints and restore. `signature` describes
   * what the state means (window spec, aggregates): a checkpoint is not restored into another.
   */
  registerState(id: string, state: Stateful, signature: string): void;
  /** Called with each new watermark, upstream operators first. */
  onWatermark(listener: (watermark: number) => void): void;
  /**
   * Routes the current record to the dead-letter output with `reason` — or, given `earlier`, an
   * event an operator held back (a batch). Counts are per input event: the first letter for an
   * event makes its outcome dead-lettered (whatever it was counted as so far), further letters for
   * it (other branches) are written but change no count. While a window result travels downstream
   * (RecordContext.result) the letter is the result's: see deadLetterResult.
   */
  deadLetter(reason: string, earlier?: EarlierRecord): void;
  /**
   * Routes a result an operator cannot take (materialize(): a window result without its view's
   * fields) to the dead-letter output, marked `result: true`, with the coordinates of the input event
   * that fired it (null when the end of input or an idle source did). Counted in
   * `resultsDeadLettered`; the input event's outcome is not touched.
   */
  deadLetterResult(reason: string, result: unknown): void;
  /** The topology file's folder: relative paths in operator arguments are looked up there first. */
  readonly baseDir: string;
  /**
   * Calls `flush` after each burst of input and before each checkpoint (operators that batch), in
   * the order registered: an operator registers after subscribing upstream, so what an upstream
   * flush emits is in the downstream batch before that one flushes. The run waits for a promise.
   */
  onBurstEnd(flush: () => void | Promise<void>): void;
  /**
   * Work an operator still has after its input completed (emitting what it held back, after an
   * asynchronous lookup): the run waits for it before it writes its outputs; a rejection fails it.
   */
  finishing(work: Promise<void>): void;
  /**
   * Declares that the chain being subscribed runs through an operator that holds events back
   * (score): event-time windows further down would see watermarks pass those events.
   */
  blockEventTimeOperators(operator: string): void;
  readonly upstreamBarrier: string | undefined;
  /**
   * Runs `prepare` (loading a model, say) once before any input is read; a failure stops the start.
   * What it returns is closed when the run ends.
   */
  onStart(prepare: () => Promise<{ close(): Promise<void> }>): void;
  /** The run's model provider (the model registry), for models named in a topology. */
  models(what: string): ModelProvider;
  /** A line for the run's report (stderr), such as what shadow models scored. */
  report(message: string): void;
  /**
   * The run's counter `rtml_<name>{topology, ...labelNames}` (engine/metrics.ts): a no-op when the
   * run exports no metrics. Increment it per batch, not per event.
   */
  counter(name: string, help: string, labelNames: readonly string[]): RunCounter;
  /** The late side output named by a window's `late` option (undefined: count and drop). */
  lateOutput(sink: string | undefined, operatorId: string): LateOutput;
  /**
   * A ranged run's edges (rtml replay / backfill with --from/--to): windows they cut are not
   * emitted (engine/rangeEdges.ts). Undefined otherwise.
   */
  windowEdges?(): WindowEdges | undefined;
  /** Where materialize() writes a view's rows (the run's feature store). */
  featureWriter(view: FeatureView): Pick<FeatureWriter, 'write'>;
  /**
   * The run's table of a view's latest values. `reader` (enrich() passes its name and place) marks
   * it as read, so it keeps rows; the view must then be materialised in the same topology.
   */
  featureTable(view: FeatureView, reader?: string): FeatureTable;
  /**
   * Reads a view's latest values from the run's online store (enrich() with `from: 'online'`), for
   * a view another pipeline materialises; this topology must not materialise it.
   */
  featureLookup(view: FeatureView, reader: string): FeatureLookup;
  /** Where repartition() sends its events (see ExchangeSide). */
  exchange(operator: string): ExchangeSide;
}

/**
 * A repartition() in this run. `local`: one process holds every key, so events pass straight on.
 * In a scale-out run the topology is split at the repartition into two tasks per partition:
 * `send` (upstream: events go to the exchange topic, keyed by their new key, and nothing passes
 * on) and `receive` (downstream: the exchange topic's partition is the input; the topology's own
 * sources stay unread).
 */
export type ExchangeSide =
  | { readonly side: 'local' }
  | { readonly side: 'send'; send(event: unknown, key: RecordKey, time: number): void }
  | { readonly side: 'receive'; readonly events: Observable<unknown> };

let current: OperatorHost | undefined;

/** Runs `fn` (the subscription of a topology's streams) with `host` as the operators' host. */
export function withHost<T>(host: OperatorHost, fn: () => T): T {
  const previous = current;
  current = host;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

/** The host of the topology being started; operators call it when they are subscribed. */
export function currentHost(operator: string): OperatorHost {
  if (!current) {
    throw new RtmlError(
      'RTML_E_OPERATOR',
      `${operator} can only run inside a topology: return the stream from defineTopology(...)'s build function and run it with rtml`,
    );
  }
  return current;
}
