import type { Observable } from 'rxjs';
import { RtmlError } from './errors.ts';
import type { Stateful } from './state.ts';
import type { FeatureTable } from './featureTable.ts';
import type { FeatureLookup, FeatureView, FeatureWriter } from './features.ts';
import type { ModelProvider } from './modelProvider.ts';
import type { RecordKey } from './io.ts';
import type { WindowEdges } from './rangeEdges.ts';
import type { RunCounter, RunGauge } from './metrics.ts';
import type { MonitoringRecorder } from './monitoring/records.ts';
import type { PredictionTap } from './predictionTap.ts';
import type { EarlierRecord, RecordContext } from './record.ts';

/** What a late event is handed to: writes it to the window's late sink, or counts it dropped. */
export type LateOutput = (event: unknown) => void;

/** Operator state, checkpointed by id, and the watermark that drives it (engine/run/operatorStates.ts). */
export interface StateCapability {
  /** Stable id of a stateful operator, from the topology name, its kind and its position. */
  operatorId(kind: string): string;
  /**
   * Declares an operator's state under its id, for checkpoints and restore. `signature` describes
   * what the state means (window spec, aggregates): a checkpoint is not restored into another.
   */
  register(id: string, state: Stateful, signature: string): void;
  /**
   * Called with each new watermark, upstream operators first, less the `watermarkDelay` of the
   * chain at the time of the call: register it after subscribing upstream.
   */
  onWatermark(listener: (watermark: number) => void): void;
  /**
   * How far behind the topology's watermark the chain being subscribed runs (0 from a source). A
   * join that emits results behind the watermark (a left join's unmatched rows) raises it for the
   * operators subscribed after it, as Flink holds back an interval join's output watermark, so
   * that windows downstream never see those results as late. Read it after subscribing each input.
   */
  watermarkDelay: number;
  /**
   * A ranged run's edges (rtml replay / backfill with --from/--to): windows they cut are marked or
   * not emitted (engine/rangeEdges.ts). Undefined otherwise.
   */
  readonly edges: WindowEdges | undefined;
}

/** Where what an operator cannot pass on goes (engine/run/outcomes.ts). */
export interface OutputCapability {
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
  /** The late side output named by a window's `late` option (undefined: count and drop). */
  late(sink: string | undefined, operatorId: string): LateOutput;
}

/** When an operator's work happens besides per event (engine/run/lifecycle.ts). */
export interface LifecycleCapability {
  /**
   * Runs `prepare` (loading a model, say) once before any input is read; a failure stops the start.
   * What it returns is closed when the run ends.
   */
  onStart(prepare: () => Promise<{ close(): Promise<void> }>): void;
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
  holdsEventsBack(operator: string): void;
  /** The operator upstream of the one being subscribed that holds events back, if any. */
  readonly holdingBack: string | undefined;
}

/** The run's feature views (engine/run/featureAccess.ts). */
export interface FeatureCapability {
  /** Where materialize() writes a view's rows (the run's feature store). */
  writer(view: FeatureView): Pick<FeatureWriter, 'write'>;
  /**
   * The run's table of a view's latest values. `reader` (enrich() passes its name and place) marks
   * it as read, so it keeps rows; the view must then be materialised in the same topology.
   */
  table(view: FeatureView, reader?: string): FeatureTable;
  /**
   * Reads a view's latest values from the run's online store (enrich() with `from: 'online'`), for
   * a view another pipeline materialises; this topology must not materialise it.
   */
  lookup(view: FeatureView, reader: string): FeatureLookup;
}

/** Reports and metrics an operator adds to the run's. */
export interface TelemetryCapability {
  /** A line for the run's report (stderr), such as what shadow models scored. */
  report(message: string): void;
  /**
   * The run's counter `rtml_<name>{topology, ...labelNames}` (engine/metrics.ts): a no-op when the
   * run exports no metrics. Increment it per batch, not per event.
   */
  counter(name: string, help: string, labelNames: readonly string[]): RunCounter;
  /** The run's gauge `rtml_<name>{topology, ...labelNames}`: a no-op when the run exports no metrics. Set it per window, not per event. */
  gauge(name: string, help: string, labelNames: readonly string[]): RunGauge;
  /** The run's event counts so far (monitor(): the dead-letter and late rates of a window). */
  runCounts(): { in: number; late: number; deadLettered: number };
  /** Where score() offers samples of its predictions (RunOptions.predictions), if anyone may watch. */
  readonly predictions: PredictionTap | undefined;
}

/**
 * What a running topology gives its operators: the record being processed and a few small
 * capabilities, each implemented by the part of the run that owns it. An operator takes the ones
 * it needs when it is subscribed (`currentHost`).
 */
export interface OperatorHost {
  readonly topology: string;
  /** The topology file's folder: relative paths in operator arguments are looked up there first. */
  readonly baseDir: string;
  readonly record: RecordContext;
  readonly state: StateCapability;
  readonly outputs: OutputCapability;
  readonly lifecycle: LifecycleCapability;
  readonly features: FeatureCapability;
  readonly telemetry: TelemetryCapability;
  /** The run's model provider, for models a topology names (`what`: the operator, for the error). */
  models(what: string): ModelProvider;
  /** Where repartition() sends its events (see ExchangeSide). */
  exchange(operator: string): ExchangeSide;
  /** Where monitor() and monitorAccuracy() keep their records (RunOptions.monitoring), if the run has a place. */
  readonly monitoring: MonitoringRecorder | undefined;
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

// rxjs has no subscription context, and operators are plain functions a topology composes before
// any run exists: the run subscribes its streams synchronously inside withHost, and each operator
// takes its host when subscribed (as Kafka Streams' processors get their context in init()).
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
