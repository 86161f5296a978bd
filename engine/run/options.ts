import type { Registry } from 'prom-client';
import type { FeatureStore } from '../features.ts';
import type { MonitoringRecorder } from '../monitoring/records.ts';
import type { ModelProvider } from '../modelProvider.ts';
import type { PredictionTap } from '../predictionTap.ts';
import type { SinkConnector, SourceConnector, SourceOpenOptions } from '../io.ts';

export interface RunOptions {
  /** Source connectors by the topology's source names. */
  sources: Readonly<Record<string, SourceConnector>>;
  /** Sink connectors by sink name; `dlq` takes dead letters, a window's `late` name its late events. */
  sinks: Readonly<Record<string, SinkConnector>>;
  /** The feature store materialize() writes to (connectors/features). */
  features?: FeatureStore;
  /** Binds every sink(...) the topology uses and `sinks` does not (backfill: a discarding sink). */
  defaultSink?: SinkConnector;
  /** Where score('registry:NAME') finds models (the model registry). */
  models?: ModelProvider;
  /** Where monitor() and monitorAccuracy() write their records (monitoring/postgresRecorder.ts); without one they only emit them and set gauges. */
  monitoring?: MonitoringRecorder;
  from?: 'earliest' | 'latest';
  /** Replay: a range of every source (bounded input); `from` alone (rtml run --from <time>) only sets where sources start. */
  range?: SourceOpenOptions['range'];
  /**
   * Replay and backfill: windows some of whose events may lie outside `range` are "cut" by its
   * edges (engine/rangeEdges.ts) and counted (RunStats.windowsCut). `mark`: they fire as any window
   * (docs/semantics.md), marked, and materialize() does not write them to the feature stores; `drop`:
   * they are not emitted at all. Unset: no edges (rtml run --from <time> is a live start).
   */
  cutWindows?: 'mark' | 'drop';
  /** Keep reading new input after the end (live); stop with `signal`. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Records per source read (default 4096); results never depend on it. */
  batchSize?: number;
  /** Processing-time clock, used only for idle timeouts (default Date.now). */
  clock?: () => number;
  /** Where relative schema paths are looked up first (the topology file's folder). */
  baseDir?: string;
  onProgress?: (progress: RunProgress) => void;
  /** Warnings and reports (dead letters with no dlq sink, dropped late events). */
  warn?: (message: string) => void;
  /** How often a live run polls idle sources, ms (default 20). */
  pollInterval?: number;
  /**
   * A prom-client registry to export the run's metrics into (engine/metrics.ts: events, watermark,
   * checkpoints, feature store, models); none by default. Read at scrape time: no cost per event.
   */
  metrics?: Registry;
  /** Where score() offers samples of its predictions while someone watches (rtml run's dashboard); none by default. */
  predictions?: PredictionTap;
  /**
   * Checkpoints: state, watermarks and source and sink positions saved together into `dir` every
   * `intervalMs` (default 10 s, processing time) and/or every `everyEvents` events; a run resumes
   * from the checkpoint it finds there. A bounded run that completes removes it; a live run stopped
   * by `signal` takes a last one. `pauseMs` holds each write half-done (crash tests only).
   */
  checkpoint?: { dir: string; intervalMs?: number; everyEvents?: number; pauseMs?: number };
  /** Read only these partitions of every source (a scale-out task); default all. */
  partitions?: readonly number[];
  /**
   * True once this run's partitions belong to another worker (scale-out: lost in a rebalance):
   * from then on it takes no checkpoint and commits nothing, so it cannot overwrite the new owner's.
   */
  fenced?: () => boolean;
  /** Scale-out with repartition(): which side of the exchange topic this task is (engine/worker.ts). */
  exchange?: ExchangeBinding;
}

/** The exchange topic a scale-out task of a topology with repartition() sends to or receives from. */
export type ExchangeBinding = { side: 'send'; sink: SinkConnector; partitions: number } | { side: 'receive'; source: SourceConnector; upstreamPartitions: number };

export interface RunStats {
  topology: string;
  /** Events read: processed + late + deadLettered. */
  in: number;
  processed: number;
  late: number;
  deadLettered: number;
  /**
   * Window results an operator could not take (materialize(): a result without its view's fields),
   * dead-lettered as results (`result: true`): not input events, so not part of `in`.
   */
  resultsDeadLettered: number;
  /** Values written by the topology's sink(...) operators. */
  resultsOut: number;
  /** Late events with no late sink bound, and dead letters with no dlq sink bound (counted in late / deadLettered / resultsDeadLettered). */
  lateDropped: number;
  deadLettersUnbound: number;
  elapsedMs: number;
  eventsPerSecond: number;
  /** Checkpoints taken by this process, and the size and time of the last one. */
  checkpoints: number;
  checkpointBytes: number;
  checkpointMs: number;
  /** Feature store attempts retried while a store was unreachable (this process). */
  storeRetries: number;
  /** True when this run resumed from a checkpoint. */
  resumed: boolean;
  /** Ranged runs (cutWindows): windows (per key) cut by the range's edges (see RunOptions.cutWindows). */
  windowsCut: number;
}

export interface RunProgress {
  stats: RunStats;
  /** Bounded inputs: done and total in the sources' units (records or bytes). */
  done: number;
  total: number | undefined;
  /** The topology's watermark, epoch ms (-Infinity before the first event). */
  watermark: number;
}
