import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, Subscriber, type MonoTypeOperatorFunction, type Subscription } from 'rxjs';
import { loadSchema, timeFieldScale } from './avro.ts';
import type { Stateful } from './checkpoint.ts';
import { Checkpointer } from './checkpointing.ts';
import { Outcome, RecordContext, withHost, type EarlierRecord, type ExchangeSide, type LateOutput, type OperatorHost } from './context.ts';
import { parseDuration } from './duration.ts';
import { errorMessage, RtmlError } from './errors.ts';
import { FeatureTable } from './featureTable.ts';
import type { FeatureLookup, FeatureRow, FeatureStore, FeatureView, FeatureWriter } from './features.ts';
import type { ModelProvider } from './models.ts';
import type { InputRecord, RecordKey, SinkConnector, SinkWriter, SourceConnector, SourceOpenOptions, SourceReader } from './io.ts';
import { Lane, timeReader, type DeclaredSource } from './lanes.ts';
import { callerLocation } from './location.ts';
import { markShape, shapeOf } from './shape.ts';
import { NAME_PATTERN, type SourceOptions, type Topology, type TopologyBuilder } from './topology.ts';
import { WatermarkTracker } from './watermarks.ts';
import { RangeEdges } from './rangeEdges.ts';
import { RunMetrics, type RunCounter } from './metrics.ts';
import type { Registry } from 'prom-client';

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

/** The exchange's records: the event with the key and time repartition() gave it (a transport key is only text). */
interface ExchangeRecord {
  key: RecordKey;
  time: number;
  /** The source partition it was read from: the receiving side keeps a watermark per upstream partition. */
  from: number;
  /**
   * The offset of the input record it came from, and its number among that record's sends: an
   * upstream task resumed from its checkpoint sends its tail again, and the receiving side drops
   * what it has already taken (so state stays exactly-once across the exchange).
   */
  at: number;
  seq: number;
  event: unknown;
}

/** Receiving side: per upstream partition, the last [at, seq] taken (checkpointed with the state). */
class ExchangeProgress implements Stateful {
  private last = new Map<number, [number, number]>();

  /** True when the record is new (and records it), false for one sent again. */
  take(r: ExchangeRecord): boolean {
    const seen = this.last.get(r.from);
    if (seen !== undefined && (r.at < seen[0] || (r.at === seen[0] && r.seq <= seen[1]))) return false;
    this.last.set(r.from, [r.at, r.seq]);
    return true;
  }

  snapshot(): unknown {
    return [...this.last];
  }

  restore(state: unknown): void {
    this.last = new Map(state as [number, [number, number]][]);
  }
}

/**
 * What the sending side tells every exchange partition of its progress: its watermark (null: its
 * input has ended). The receiving side's watermark then advances even for an upstream partition
 * that sends it no events, and a bounded run knows when the exchange has ended.
 */
interface ExchangeMarker {
  from: number;
  watermark: number | null;
}

/** Markers go out at most this often (processing time), and at the end of the input. */
const MARKER_INTERVAL_MS = 50;

/** Name of the exchange as a source and a sink in checkpoints and messages. */
const EXCHANGE = 'repartition';

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

/** Sink writes are flushed once this many bytes are buffered. */
const FLUSH_BYTES = 1 << 20;
/** Feature rows are written in batches of this many (live runs write at every poll). */
const FLUSH_FEATURE_ROWS = 10_000;
const SHOWN_DEAD_LETTERS = 20;

/** A sink as operators hold it; its writer is set once the bindings are checked and opened. */
interface SinkHandle {
  writer: SinkWriter | undefined;
}

/**
 * Runs a topology: builds it, binds its sources and sinks, and pushes every input event through
 * it in a deterministic order — partitions are merged by event time (ties: source, then partition
 * order), whatever the batch sizes — advancing the watermark after each event. At the end of
 * bounded input the watermark becomes +inf, so every window fires.
 */
export class TopologyRun implements OperatorHost {
  readonly record = new RecordContext();
  readonly topology: string;
  private readonly declared = new Map<string, DeclaredSource>();
  private readonly sinkHandles = new Map<string, SinkHandle>();
  private readonly lateHandles = new Map<string, SinkHandle>();
  private readonly lateDropCounts = new Map<string, { sink: string | undefined; n: number }>();
  private readonly watermarkListeners: ((w: number) => void)[] = [];
  private readonly operatorCounts = new Map<string, number>();
  private readonly watermarks: WatermarkTracker;
  /** A ranged run's edges (options.cutWindows), when the range has one. */
  private readonly edges: RangeEdges | undefined;
  private readonly lanes: Lane[] = [];
  private readonly subscriptions: Subscription[] = [];
  private dlq: SinkWriter | undefined;
  /** The input event being dispatched, if any: a letter for it is counted when its dispatch ends. */
  private inDispatch = false;
  private dispatchSource = '';
  private dispatchPartition = 0;
  private dispatchOffset = 0;
  /**
   * Input events of the current burst that did not end as processed, by `source\0partition\0offset`,
   * and events an operator that batches dead-lettered after their dispatch: how each is counted, so a
   * later letter for it (another branch's batch) moves it to dead-lettered once at most. Cleared
   * once the operators that batch have flushed (endBurst): no letter can then name those events.
   */
  private readonly settled = new Map<string, Outcome>();
  private readonly views = new Map<string, FeatureView>();
  private readonly tables = new Map<string, { table: FeatureTable; view: FeatureView; readers: string[] }>();
  private readonly states = new Map<string, { state: Stateful; signature: string }>();
  private readonly writers = new Map<string, SinkWriter>();
  /** The sinks bound, with the default sink filled in (set by build). */
  private sinks: Readonly<Record<string, SinkConnector>> = {};
  private checkpointer: Checkpointer | undefined;
  /** Operators that batch (score): flushed after each burst of input, and before checkpoints. */
  private readonly burstEndHooks: (() => void | Promise<void>)[] = [];
  /** What operators still do after their input completed (see OperatorHost.finishing). */
  private readonly finishingWork: Promise<void>[] = [];
  /** Views enrich() reads from the online store: their readers, for start-up checks. */
  private readonly lookups = new Map<string, string[]>();
  private readonly startHooks: (() => Promise<{ close(): Promise<void> }>)[] = [];
  /** Set while subscribing the chain below an operator that batches (see blockEventTimeOperators). */
  upstreamBarrier: string | undefined = undefined;
  /** Tables read by enrich(): committed after each input event. */
  private enrichedTables: FeatureTable[] = [];
  private features: FeatureWriter | undefined;
  private featureFlush: Promise<void> | undefined;
  private failure: unknown;
  /** The repartition() using the exchange (one per topology in scale-out), and its two ends. */
  private exchangeUser: string | undefined;
  private exchangeWriter: SinkWriter | undefined;
  private exchangeSource: DeclaredSource | undefined;
  /**
   * Receiving side: a watermark slot per upstream partition, so the exchange's watermark is their
   * minimum — one upstream task running ahead does not make the others' events late.
   */
  private exchangeSlots: number[] = [];
  private readonly exchangeProgress = new ExchangeProgress();
  /** Sending side: the watermark last sent to the exchange, and when. */
  private markedWatermark = -Infinity;
  private markedAt = 0;
  private readonly stats: RunStats;
  /** Values written per sink(...) name (the metrics' results_out_total). */
  private readonly sinkCounts = new Map<string, { n: number }>();
  private readonly metrics: RunMetrics;
  private started = 0;

  constructor(
    private readonly definition: Topology,
    private readonly options: RunOptions,
  ) {
    this.topology = definition.name;
    this.watermarks = new WatermarkTracker(options.clock ?? Date.now);
    const edges = options.cutWindows && options.range ? new RangeEdges(options.range, options.cutWindows === 'drop', (n) => (this.stats.windowsCut += n)) : undefined;
    this.edges = edges?.active ? edges : undefined;
    this.stats = {
      topology: definition.name,
      in: 0,
      processed: 0,
      late: 0,
      deadLettered: 0,
      resultsDeadLettered: 0,
      resultsOut: 0,
      lateDropped: 0,
      deadLettersUnbound: 0,
      elapsedMs: 0,
      eventsPerSecond: 0,
      checkpoints: 0,
      checkpointBytes: 0,
      checkpointMs: 0,
      storeRetries: 0,
      resumed: false,
      windowsCut: 0,
    };
    this.metrics = new RunMetrics(options.metrics, {
      topology: definition.name,
      counts: () => this.snapshot(),
      resultsBySink: () => [...this.sinkCounts].map(([sink, c]) => [sink, c.n] as const),
      watermark: () => this.watermarks.watermark,
      live: options.follow ?? false,
      featureStore: () => {
        const store = options.features?.stats;
        if (store === undefined && this.features === undefined) return undefined;
        return { unavailable: store?.unavailable ?? false, pendingRows: this.features?.pending ?? 0 };
      },
    });
  }

  // ---- OperatorHost -------------------------------------------------------------------------

  operatorId(kind: string): string {
    const n = this.operatorCounts.get(kind) ?? 0;
    this.operatorCounts.set(kind, n + 1);
    return `${this.topology}/${kind}-${n}`;
  }

  registerState(id: string, state: Stateful, signature: string): void {
    if (this.states.has(id)) throw new RtmlError('RTML_E_TOPOLOGY', `two stateful operators have the id ${id}`);
    this.states.set(id, { state, signature });
  }

  onWatermark(listener: (watermark: number) => void): void {
    this.watermarkListeners.push(listener);
  }

  deadLetter(reason: string, earlier?: EarlierRecord): void {
    const record = this.record;
    // Downstream of a window: the letter is the result's, the input event that fired it is not bad.
    if (record.result !== undefined) return this.deadLetterResult(reason, record.result);
    // An event an operator held back and passes on now (emitHeld) is the one lettered.
    const held = earlier ?? record.held;
    const r = held ?? record;
    this.countDeadLettered(r.source, r.partition, r.offset);
    const letter = { reason, source: r.source, partition: r.partition, offset: r.offset, payload: held ? held.value : (record.raw ?? record.value) };
    this.writeLetter(letter, r.time, `${r.source} partition ${r.partition} offset ${r.offset}`);
  }

  deadLetterResult(reason: string, result: unknown): void {
    const r = this.record;
    this.stats.resultsDeadLettered++;
    // Fired by the input event being dispatched (or held back with it), else by the end of input or an idle source.
    const fired = this.inDispatch || r.held !== undefined;
    const letter = { reason, source: fired ? r.source : null, partition: fired ? r.partition : null, offset: fired ? r.offset : null, payload: result, result: true };
    this.writeLetter(letter, r.time, fired ? `a result fired by ${r.source} partition ${r.partition} offset ${r.offset}` : 'a result fired by the end of input');
  }

  /**
   * Counts the input event at source/partition/offset as dead-lettered, once: the event being
   * dispatched takes that outcome when its dispatch ends; an earlier one (an operator that batches
   * letters it after its dispatch) moves from what it was counted as, unless it already was.
   */
  private countDeadLettered(source: string, partition: number, offset: number): void {
    if (this.inDispatch && offset === this.dispatchOffset && partition === this.dispatchPartition && source === this.dispatchSource) {
      this.record.outcome = Outcome.DeadLettered;
      return;
    }
    const id = `${source}\0${partition}\0${offset}`;
    const was = this.settled.get(id) ?? Outcome.Processed;
    if (was === Outcome.DeadLettered) return;
    if (was === Outcome.Late) this.stats.late--;
    else this.stats.processed--;
    this.stats.deadLettered++;
    this.settled.set(id, Outcome.DeadLettered);
  }

  /** Writes a dead letter to the dlq sink, or reports it (`what`: whose letter) when none is bound. */
  private writeLetter(letter: object, time: number, what: string): void {
    if (this.dlq) {
      this.dlq.write(letter, undefined, Number.isFinite(time) ? time : 0);
      return;
    }
    this.stats.deadLettersUnbound++;
    if (this.stats.deadLettersUnbound <= SHOWN_DEAD_LETTERS) {
      this.warn(`dead letter (bind --sink dlq=URI to keep them): ${what}: ${(letter as { reason: string }).reason}`);
    }
  }

  get baseDir(): string {
    return this.options.baseDir ?? process.cwd();
  }

  onStart(prepare: () => Promise<{ close(): Promise<void> }>): void {
    this.startHooks.push(prepare);
  }

  models(what: string): ModelProvider {
    if (!this.options.models) throw new RtmlError('RTML_E_BINDING', `${what} names a registered model, but this run has no model registry (rtml run --registry URI)`);
    return this.options.models;
  }

  counter(name: string, help: string, labelNames: readonly string[]): RunCounter {
    return this.metrics.counter(name, help, labelNames);
  }

  report(message: string): void {
    this.warn(message);
  }

  onBurstEnd(flush: () => void | Promise<void>): void {
    this.burstEndHooks.push(flush);
  }

  finishing(work: Promise<void>): void {
    this.finishingWork.push(work.catch((err: unknown) => this.fail(err)));
  }

  blockEventTimeOperators(operator: string): void {
    this.upstreamBarrier = operator;
  }

  windowEdges(): RangeEdges | undefined {
    return this.edges;
  }

  lateOutput(sink: string | undefined, operatorId: string): LateOutput {
    const r = this.record;
    if (sink !== undefined) {
      let handle = this.lateHandles.get(sink);
      if (!handle) {
        handle = this.sinkHandles.get(sink) ?? { writer: undefined };
        this.lateHandles.set(sink, handle);
      }
      const bound = handle;
      // Bound, or bound by the default sink (backfill discards outputs by design: counted as late, no warning).
      if (this.options.sinks[sink] !== undefined || this.options.defaultSink !== undefined) {
        return (event) => {
          if (r.outcome < Outcome.Late) r.outcome = Outcome.Late;
          bound.writer!.write(event, r.key, r.time);
        };
      }
    }
    const drops = { sink, n: 0 };
    this.lateDropCounts.set(operatorId, drops);
    return () => {
      if (r.outcome < Outcome.Late) r.outcome = Outcome.Late;
      drops.n++;
      this.stats.lateDropped++;
    };
  }

  featureWriter(view: FeatureView): Pick<FeatureWriter, 'write'> {
    const known = this.views.get(view.name);
    if (known !== undefined && known !== view) {
      throw new RtmlError('RTML_E_FEATURE_VIEW', `feature view '${view.name}' is declared twice (${known.at} and ${view.at})`);
    }
    this.views.set(view.name, view);
    return { write: (v: FeatureView, row: FeatureRow) => this.features!.write(v, row) };
  }

  featureTable(view: FeatureView, reader?: string): FeatureTable {
    let entry = this.tables.get(view.name);
    if (!entry) {
      entry = { table: new FeatureTable(view.ttl), view, readers: [] };
      this.tables.set(view.name, entry);
    }
    if (reader !== undefined && !entry.table.enriched) {
      entry.table.enriched = true;
      const { table } = entry;
      this.onWatermark((w) => table.advance(w));
      this.registerState(`${this.topology}/table-${view.name}`, entry.table, JSON.stringify({ entity: view.entity, time: view.time, features: view.features }));
    }
    if (reader !== undefined) entry.readers.push(reader);
    return entry.table;
  }

  featureLookup(view: FeatureView, reader: string): FeatureLookup {
    const readers = this.lookups.get(view.name) ?? [];
    readers.push(reader);
    this.lookups.set(view.name, readers);
    return (entities) => this.options.features!.read!(view, entities);
  }

  exchange(operator: string): ExchangeSide {
    const binding = this.options.exchange;
    if (this.exchangeUser !== undefined && this.exchangeUser !== operator) {
      throw new RtmlError('RTML_E_TOPOLOGY', `a scale-out run supports one repartition() per topology: ${this.exchangeUser} and ${operator}`);
    }
    this.exchangeUser = operator;
    if (binding === undefined) return { side: 'local' };
    if (binding.side === 'send') {
      this.burstEndHooks.push(() => this.sendMarkers(binding));
      const record = this.record;
      let at = Number.NaN;
      let seq = 0;
      return {
        side: 'send',
        send: (event, key, time) => {
          if (record.offset === at) seq++;
          else [at, seq] = [record.offset, 0];
          this.exchangeWriter!.write({ key, time, from: record.partition, at, seq, event } satisfies ExchangeRecord, key, time);
        },
      };
    }
    const record = this.record;
    const source = this.exchangeSource!;
    return {
      side: 'receive',
      events: new Observable<unknown>((downstream) => {
        const subscriber = new Subscriber<unknown>({
          next: (value) => {
            const r = value as ExchangeRecord;
            record.key = r.key;
            downstream.next(r.event);
          },
          error: (err: unknown) => downstream.error(err),
          complete: () => downstream.complete(),
        });
        source.subscribers.push(subscriber);
        return () => source.subscribers.splice(source.subscribers.indexOf(subscriber), 1);
      }),
    };
  }

  /** Sends the exchange's partitions this task's watermark, when it has moved (and not too often unless it is the end). */
  private sendMarkers(binding: Extract<ExchangeBinding, { side: 'send' }>): void {
    const w = this.watermarks.watermark;
    const now = Date.now();
    if (w === this.markedWatermark || w === -Infinity || (w < Infinity && now - this.markedAt < MARKER_INTERVAL_MS)) return;
    const writer = this.exchangeWriter!;
    if (writer.writeTo === undefined) throw new RtmlError('RTML_E_BINDING', `repartition(): the exchange ${binding.sink.uri} cannot write to a given partition`);
    const marker: ExchangeMarker = { from: this.options.partitions?.[0] ?? 0, watermark: w === Infinity ? null : w };
    for (let p = 0; p < binding.partitions; p++) writer.writeTo(p, marker, Number.isFinite(w) ? w : 0);
    this.markedWatermark = w;
    this.markedAt = now;
  }

  /** Receiving side: an upstream task's marker moves its watermark slot; once every upstream has ended, so has the exchange. */
  private receiveMarker(lane: Lane, marker: ExchangeMarker): void {
    const slot = this.exchangeSlots[marker.from];
    if (slot === undefined) return;
    if (marker.watermark === null) {
      this.advanceWatermark(this.watermarks.finish(slot));
      if (this.exchangeSlots.every((s) => this.watermarks.isFinished(s))) {
        lane.ended = true;
        lane.records = [];
        lane.pos = 0;
      }
    } else {
      this.advanceWatermark(this.watermarks.observe(slot, marker.watermark + this.exchangeSource!.outOfOrder));
    }
  }

  /** The largest `outOfOrder` of the topology's sources (once built). */
  private largestOutOfOrder(): number {
    return Math.max(0, ...[...this.declared.values()].map((d) => d.outOfOrder));
  }

  /** Builds the topology without running it: the repartition() it uses, if any (engine/worker.ts). */
  repartitionedBy(): string | undefined {
    this.build();
    return this.exchangeUser;
  }

  // ---- building ------------------------------------------------------------------------------

  private builder(): TopologyBuilder {
    const baseDirs = [...(this.options.baseDir ? [this.options.baseDir] : []), process.cwd()];
    return {
      source: <T>(name: string, options: SourceOptions<T>): Observable<T> => {
        const at = callerLocation();
        const what = `source('${name}') at ${at}`;
        if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
          throw new RtmlError('RTML_E_TOPOLOGY', `${what}: a source name must start with a letter and use letters, digits, _ . -`);
        }
        if (this.declared.has(name)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: source '${name}' is declared twice`);
        if (!options || (typeof options.time !== 'string' && typeof options.time !== 'function')) {
          throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs a time: the event-time field name or a function of the event`);
        }
        const known = new Set(['schema', 'time', 'outOfOrder', 'idleTimeout']);
        for (const key of Object.keys(options)) {
          if (!known.has(key)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: unknown option '${key}' (options: ${[...known].join(', ')})`);
        }
        const schema = options.schema === undefined ? undefined : loadSchema(options.schema, baseDirs, what);
        const scale = typeof options.time === 'string' ? timeFieldScale(schema, options.time) : 1;
        const source: DeclaredSource = {
          name,
          schema,
          outOfOrder: parseDuration(options.outOfOrder ?? 0, `${what} outOfOrder`),
          idleTimeout: options.idleTimeout === undefined ? Infinity : parseDuration(options.idleTimeout, `${what} idleTimeout`),
          ...timeReader(name, options.time, scale),
          subscribers: [],
        };
        this.declared.set(name, source);
        return new Observable<T>((subscriber) => {
          this.upstreamBarrier = undefined; // a new chain of operators starts here
          source.subscribers.push(subscriber as Subscriber<unknown>);
          return () => source.subscribers.splice(source.subscribers.indexOf(subscriber as Subscriber<unknown>), 1);
        });
      },
      sink: <T>(name: string): MonoTypeOperatorFunction<T> => {
        const at = callerLocation();
        if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name === 'dlq') {
          throw new RtmlError('RTML_E_TOPOLOGY', `sink(${JSON.stringify(name)}) at ${at}: a sink name must start with a letter and use letters, digits, _ . - ('dlq' is reserved for dead letters)`);
        }
        let handle = this.sinkHandles.get(name);
        if (!handle) {
          handle = this.lateHandles.get(name) ?? { writer: undefined };
          this.sinkHandles.set(name, handle);
        }
        const bound = handle;
        const r = this.record;
        const stats = this.stats;
        let sinkCount = this.sinkCounts.get(name);
        if (sinkCount === undefined) this.sinkCounts.set(name, (sinkCount = { n: 0 }));
        const counted = sinkCount;
        return (upstream) =>
          // Passes values on unchanged: a known shape (engine/shape.ts) stays known.
          markShape(new Observable<T>((subscriber) =>
            upstream.subscribe({
              next: (value) => {
                try {
                  bound.writer!.write(value, r.key, r.time);
                  stats.resultsOut++;
                  counted.n++;
                } catch (err) {
                  this.deadLetter(`sink '${name}' rejected ${JSON.stringify(value)?.slice(0, 200)}: ${errorMessage(err)}`);
                }
                subscriber.next(value);
              },
              error: (err) => subscriber.error(err),
              complete: () => subscriber.complete(),
            }),
          ), shapeOf(upstream));
      },
    };
  }

  private describeBindings(): string {
    const late = [...this.lateHandles.keys()].filter((n) => !this.sinkHandles.has(n));
    return (
      `topology '${this.topology}' has sources: ${[...this.declared.keys()].join(', ') || '(none)'}; ` +
      `sinks: ${[...this.sinkHandles.keys()].join(', ') || '(none)'}` +
      (late.length ? `; late outputs (optional): ${late.join(', ')}` : '') +
      `; dead letters (optional): dlq`
    );
  }

  /** Builds and subscribes the topology, then checks that the bindings match what it declares. */
  private build(): void {
    let output: unknown;
    try {
      output = this.definition.build(this.builder());
    } catch (err) {
      if (err instanceof RtmlError) throw err;
      throw new RtmlError('RTML_E_TOPOLOGY', `topology '${this.topology}' (${this.definition.at}) failed to build: ${errorMessage(err)}`, { cause: err });
    }
    const outputs = Array.isArray(output) ? output : [output];
    if (outputs.length === 0 || !outputs.every((o) => o instanceof Observable)) {
      throw new RtmlError('RTML_E_TOPOLOGY', `topology '${this.topology}' (${this.definition.at}): the build function must return the stream (or an array of streams) that ends in sink(...)`);
    }
    if (this.options.exchange?.side === 'receive') {
      // The exchange carries events already read (and timed) upstream: the same out-of-orderness applies.
      this.exchangeSource = {
        name: EXCHANGE,
        schema: undefined,
        outOfOrder: this.largestOutOfOrder(),
        idleTimeout: Infinity,
        ...timeReader(EXCHANGE, 'time', 1),
        subscribers: [],
      };
      this.registerState(`${this.topology}/${EXCHANGE}-progress`, this.exchangeProgress, 'exchange [at, seq] per upstream partition');
    }
    withHost(this, () => {
      for (const stream of outputs as Observable<unknown>[]) {
        this.subscriptions.push(stream.subscribe({ error: (err: unknown) => this.fail(err) }));
      }
    });
    if (this.failure !== undefined) throw this.failure;
    const { sources, defaultSink } = this.options;
    const sinks: Record<string, SinkConnector> = { ...this.options.sinks };
    if (defaultSink) for (const name of [...this.sinkHandles.keys(), ...this.lateHandles.keys()]) sinks[name] ??= defaultSink;
    this.sinks = sinks;
    for (const name of this.declared.keys()) {
      if (!sources[name]) throw new RtmlError('RTML_E_BINDING', `source '${name}' is not bound: add --source ${name}=URI (${this.describeBindings()})`);
    }
    for (const name of Object.keys(sources)) {
      if (!this.declared.has(name)) throw new RtmlError('RTML_E_BINDING', `--source ${name}: no such source (${this.describeBindings()})`);
    }
    for (const name of this.sinkHandles.keys()) {
      if (!sinks[name]) throw new RtmlError('RTML_E_BINDING', `sink '${name}' is not bound: add --sink ${name}=URI (${this.describeBindings()})`);
    }
    for (const name of Object.keys(sinks)) {
      if (name !== 'dlq' && !this.sinkHandles.has(name) && !this.lateHandles.has(name)) {
        throw new RtmlError('RTML_E_BINDING', `--sink ${name}: no such sink (${this.describeBindings()})`);
      }
    }
    for (const [name, { readers }] of this.tables) {
      if (readers.length > 0 && !this.views.has(name)) {
        throw new RtmlError('RTML_E_FEATURE_VIEW', `${readers[0]} reads feature view '${name}', which this topology does not materialize: add materialize(...) for it`);
      }
    }
    for (const [name, readers] of this.lookups) {
      if (this.views.has(name)) {
        throw new RtmlError('RTML_E_FEATURE_VIEW', `${readers[0]} reads feature view '${name}' from the online store, but this topology materializes it: leave out from: 'online' (enrich() then reads the topology's own values, deterministically)`);
      }
      if (this.options.features?.read === undefined) {
        throw new RtmlError('RTML_E_BINDING', `${readers[0]} reads feature view '${name}' from the online store, but this run has no feature store that can read it (rtml run --online URI)`);
      }
    }
    this.enrichedTables = [...this.tables.values()].filter((t) => t.table.enriched).map((t) => t.table);
    if (this.views.size > 0 && this.options.features === undefined) {
      throw new RtmlError('RTML_E_BINDING', `topology '${this.topology}' materializes feature view(s) ${[...this.views.keys()].join(', ')} but no feature store is bound`);
    }
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    const r = this.record;
    const where = r.source ? ` at source '${r.source}' partition ${r.partition} offset ${r.offset}` : '';
    this.failure =
      err instanceof RtmlError && err.code !== 'RTML_E_PIPELINE' && !where
        ? err
        : new RtmlError('RTML_E_PIPELINE', `topology '${this.topology}' failed${where}: ${errorMessage(err)}`, { cause: err });
  }

  // ---- running -------------------------------------------------------------------------------

  async run(): Promise<RunStats> {
    this.build();
    if (this.edges) this.edges.outOfOrder = this.largestOutOfOrder();
    const config = this.options.checkpoint;
    this.checkpointer = config && new Checkpointer(config, this.topology);
    const saved = this.checkpointer?.load(this.bindings(), this.states);
    const opened: { close(): Promise<void> }[] = [];
    try {
      for (const prepare of this.startHooks) opened.push(await prepare());
      for (const [name, connector] of Object.entries(this.sinks)) {
        const writer = await connector.open({ resume: saved?.sinks[name] });
        opened.push(writer);
        this.writers.set(name, writer);
        if (name === 'dlq') this.dlq = writer;
        for (const handles of [this.sinkHandles, this.lateHandles]) {
          const handle = handles.get(name);
          if (handle) handle.writer = writer;
        }
      }
      // Opened for lookups too: closing the writer closes the stores.
      if (this.views.size > 0 || this.lookups.size > 0) {
        this.features = await this.options.features!.open([...this.views.values()]);
        opened.push(this.features);
      }
      const exchange = this.options.exchange;
      if (exchange?.side === 'send' && this.exchangeUser !== undefined) {
        this.exchangeWriter = await exchange.sink.open({ resume: saved?.sinks[EXCHANGE] });
        opened.push(this.exchangeWriter);
        this.writers.set(EXCHANGE, this.exchangeWriter);
      }
      // The receiving side of an exchange reads it instead of the topology's sources.
      const reading = exchange?.side === 'receive' ? [{ source: this.exchangeSource!, connector: exchange.source }] : [...this.declared.values()].map((source) => ({ source, connector: this.options.sources[source.name]! }));
      for (const { source, connector } of reading) {
        const positions = saved?.sources[source.name];
        const startAfter = positions ? byPartition(positions) : undefined;
        const reader = await connector.open({
          from: this.options.from ?? 'earliest',
          // An exchange ends by its markers, not where it stood at open.
          follow: (this.options.follow ?? false) || source === this.exchangeSource,
          readerSchema: source.schema,
          startAfter,
          resume: saved?.sourceStates?.[source.name],
          range: this.options.range,
          partitions: this.options.partitions,
        });
        opened.push(reader);
        const validate = source.schema !== undefined && !reader.decodesWithReaderSchema;
        // A range ending at an offset: where each partition's range ends in event time (engine/rangeEdges.ts).
        const rangeEnds = this.edges !== undefined ? await reader.rangeEndTimes?.() : undefined;
        const only = this.options.partitions;
        for (const partition of reader.partitions) {
          if (only !== undefined && !only.includes(partition)) continue;
          const slot = this.watermarks.addSlot(source.outOfOrder, source.idleTimeout);
          if (source === this.exchangeSource && exchange?.side === 'receive') {
            this.exchangeSlots = [slot];
            for (let p = 1; p < exchange.upstreamPartitions; p++) this.exchangeSlots.push(this.watermarks.addSlot(source.outOfOrder, source.idleTimeout));
          }
          const lane = new Lane(source, reader, partition, slot, validate);
          const rangeEnd = rangeEnds?.get(partition);
          if (rangeEnd !== undefined) this.edges!.rangeEnd(slot, rangeEnd);
          lane.lastOffset = startAfter?.get(partition);
          this.lanes.push(lane);
        }
      }
      if (saved) {
        this.checkpointer!.restore(saved, this.states, this.watermarks, this.stats);
        this.stats.resumed = true;
      }
      this.started = performance.now();
      this.metrics.start();
      await this.loop();
      if (this.failure !== undefined) throw this.failure;
      const completed = this.lanes.every((l) => l.ended);
      if (completed) {
        if (exchange?.side === 'send' && this.exchangeUser !== undefined) this.sendMarkers(exchange); // the end
        for (const source of [...this.declared.values(), ...(this.exchangeSource ? [this.exchangeSource] : [])]) for (const s of [...source.subscribers]) s.complete();
        await Promise.all(this.finishingWork);
        if (this.failure !== undefined) throw this.failure;
        // Everything was processed: once the outputs are written, the sources may commit to the end.
        await this.flushOutputs();
        if (!this.options.fenced?.()) {
          await this.commitSources();
          this.checkpointer?.remove();
        }
      } else if (this.checkpointer && !this.options.fenced?.()) {
        await this.takeCheckpoint();
      }
    } finally {
      this.metrics.stop();
      for (const sub of this.subscriptions) sub.unsubscribe();
      const closing = await Promise.allSettled(opened.map((o) => o.close()));
      const failed = closing.find((c): c is PromiseRejectedResult => c.status === 'rejected');
      if (failed && this.failure === undefined) this.failure = failed.reason;
    }
    if (this.failure !== undefined) throw this.failure;
    for (const [id, drops] of this.lateDropCounts) {
      if (drops.n > 0) {
        this.warn(`${drops.n} late event(s) dropped by ${id}` + (drops.sink ? ` (late output '${drops.sink}' is not bound: add --sink ${drops.sink}=URI)` : ' (set the window\'s late option to keep them)'));
      }
    }
    if (this.stats.deadLettersUnbound > SHOWN_DEAD_LETTERS) {
      this.warn(`${this.stats.deadLettersUnbound - SHOWN_DEAD_LETTERS} more dead letter(s) not shown (bind --sink dlq=URI to keep them)`);
    }
    return this.snapshot();
  }

  // ---- checkpoints ---------------------------------------------------------------------------

  /** The URIs a checkpoint is tied to: resuming with other bindings would mix up positions. */
  private bindings(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, c] of Object.entries(this.options.sources)) out[`source ${name}`] = c.uri;
    for (const [name, c] of Object.entries(this.sinks)) out[`sink ${name}`] = c.uri;
    const exchange = this.options.exchange;
    if (exchange) out[`exchange (${exchange.side})`] = exchange.side === 'send' ? exchange.sink.uri : exchange.source.uri;
    return out;
  }

  /** Writes out every sink and the feature store, and returns the sinks' positions. */
  private async flushOutputs(): Promise<Record<string, unknown>> {
    const sinks: Record<string, unknown> = {};
    for (const [name, writer] of this.writers) {
      if (writer.checkpoint) sinks[name] = await writer.checkpoint();
      else await writer.flush();
    }
    if (this.features) await this.features.flush();
    return sinks;
  }

  /** Per source and partition, the offset of the last record processed. */
  private positions(): Record<string, Record<number, number>> {
    const sources: Record<string, Record<number, number>> = {};
    for (const lane of this.lanes) {
      if (lane.lastOffset !== undefined) (sources[lane.source.name] ??= {})[lane.partition] = lane.lastOffset;
    }
    return sources;
  }

  private async takeCheckpoint(): Promise<void> {
    await this.endBurst();
    const { bytes, ms } = await this.checkpointer!.take({
      bindings: this.bindings(),
      states: this.states,
      watermarks: this.watermarks,
      counters: this.stats,
      positions: () => this.positions(),
      sourceStates: (positions) => this.sourceStates(positions),
      flushOutputs: () => this.flushOutputs(),
    });
    this.stats.checkpoints++;
    this.stats.checkpointBytes = bytes;
    this.stats.checkpointMs = ms;
    this.metrics.checkpointTaken(ms);
    await this.commitSources();
  }

  /** What each source's reader saves beside the offsets (see SourceReader.checkpoint). */
  private sourceStates(positions: Record<string, Record<number, number>>): Record<string, unknown> {
    const states: Record<string, unknown> = {};
    for (const lane of this.lanes) {
      const name = lane.source.name;
      if (name in states || lane.reader.checkpoint === undefined) continue;
      states[name] = lane.reader.checkpoint(byPartition(positions[name]));
    }
    return states;
  }

  /** Tells each source what the checkpoint just saved covers (see SourceReader.committed). */
  private async commitSources(): Promise<void> {
    const positions = this.positions();
    const done = new Set<SourceReader>();
    for (const lane of this.lanes) {
      if (done.has(lane.reader) || lane.reader.committed === undefined) continue;
      done.add(lane.reader);
      await lane.reader.committed(byPartition(positions[lane.source.name]));
    }
  }

  private snapshot(): RunStats {
    const elapsedMs = this.started ? performance.now() - this.started : 0;
    this.stats.elapsedMs = elapsedMs;
    this.stats.eventsPerSecond = elapsedMs > 0 ? (this.stats.in * 1000) / elapsedMs : 0;
    this.stats.storeRetries = this.options.features?.stats?.retries ?? 0;
    return { ...this.stats };
  }

  private warn(message: string): void {
    (this.options.warn ?? ((m: string) => process.stderr.write(`rtml: ${m}\n`)))(message);
  }

  private async loop(): Promise<void> {
    const { lanes } = this;
    const follow = this.options.follow ?? false;
    const batchSize = this.options.batchSize ?? 4096;
    const pollInterval = this.options.pollInterval ?? 20;
    const signal = this.options.signal;
    const hasIdleTimeouts = [...this.declared.values()].some((s) => s.idleTimeout < Infinity);
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
    while (this.failure === undefined && !signal?.aborted) {
      const now = Date.now();
      const reads: Promise<void>[] = [];
      for (const lane of lanes) {
        if (!lane.ended && !lane.hasRecords && (!follow || now >= lane.retryAt)) reads.push(this.refill(lane, batchSize, pollInterval));
      }
      if (reads.length > 0) await Promise.all(reads);
      if (this.failure !== undefined) break;
      if (follow) for (const lane of lanes) if (!lane.ended && !lane.hasRecords && lane.retryAt > now) watch(lane.reader);
      if (hasIdleTimeouts) this.advanceWatermark(this.watermarks.checkIdle());
      const dispatched = lanes.length === 1 ? this.drainOne(lanes[0]!) : this.drainMerged(follow);
      await this.endBurst();
      if (lanes.every((l) => l.ended)) break;
      await this.flushSinks(follow);
      if (this.checkpointer?.due(this.stats.in) && !this.options.fenced?.()) await this.takeCheckpoint();
      // A source blocked until what it handed out is committed (SourceReader.commitWanted): a
      // checkpoint, or without checkpoints every output written and then that source committed.
      if (lanes.some((l) => l.reader.commitWanted?.()) && !this.options.fenced?.()) {
        if (this.checkpointer) await this.takeCheckpoint();
        else {
          await this.flushOutputs();
          const positions = this.positions();
          for (const l of lanes) if (l.reader.commitWanted?.()) await l.reader.committed?.(byPartition(positions[l.source.name]));
        }
      }
      if (this.options.onProgress && now - lastProgress >= 100) {
        lastProgress = now;
        this.options.onProgress(this.progress());
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
    this.options.onProgress?.(this.progress());
  }

  /** Flushes the operators that batch, upstream first (see OperatorHost.onBurstEnd). */
  private async endBurst(): Promise<void> {
    for (const flush of this.burstEndHooks) {
      try {
        await flush();
      } catch (err) {
        this.fail(err);
      }
    }
    this.settled.clear(); // every event of the burst is settled (see countDeadLettered)
  }

  private progress(): RunProgress {
    let done = 0;
    let total: number | undefined;
    for (const reader of new Set(this.lanes.map((l) => l.reader))) {
      const p = reader.progress();
      if (p) {
        done += p.done;
        total = (total ?? 0) + p.total;
      }
    }
    return { stats: this.snapshot(), done, total, watermark: this.watermarks.watermark };
  }

  private async refill(lane: Lane, batchSize: number, pollInterval: number): Promise<void> {
    let batch: InputRecord[] | null;
    try {
      batch = await lane.reader.read(lane.partition, batchSize);
    } catch (err) {
      this.fail(new RtmlError('RTML_E_PIPELINE', `source '${lane.source.name}' partition ${lane.partition}: ${errorMessage(err)}`, { cause: err }));
      return;
    }
    if (batch === null) {
      lane.ended = true;
      lane.records = [];
      lane.pos = 0;
      this.advanceWatermark(this.watermarks.finish(lane.slot));
    } else if (batch.length === 0) {
      lane.retryAt = Date.now() + pollInterval;
      lane.caughtUp = true;
    } else {
      lane.caughtUp = false;
      lane.load(batch);
      this.edges?.loaded(lane.slot, lane.times, batch.length);
    }
  }

  /**
   * Flushes sinks whose buffers are full; live runs flush everything, for latency. A writer that can
   * hand records off without waiting for their acknowledgement does (checkpoints and the end wait).
   */
  private async flushSinks(all: boolean): Promise<void> {
    for (const writer of this.writers.values()) if (writer.pending >= (all ? 1 : FLUSH_BYTES)) await (writer.handOff?.() ?? writer.flush());
    const features = this.features;
    if (!features) return;
    // Feature rows are written in the background while processing goes on (one flush at a time);
    // processing waits only when rows pile up, and every checkpoint waits for all of them.
    if (this.featureFlush === undefined) {
      if (features.pending >= (all ? 1 : FLUSH_FEATURE_ROWS)) {
        this.featureFlush = features
          .flush()
          .catch((err: unknown) => this.fail(err))
          .finally(() => (this.featureFlush = undefined));
      }
    } else if (features.pending >= 4 * FLUSH_FEATURE_ROWS) {
      await this.featureFlush;
    }
  }

  private drainOne(lane: Lane): number {
    let n = 0;
    while (lane.hasRecords && this.failure === undefined) {
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
    while (this.failure === undefined) {
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

  /** Pushes the lane's next record through the topology and accounts for its outcome. */
  private dispatch(lane: Lane): void {
    const index = lane.pos++;
    const input = lane.records[index]!;
    lane.lastOffset = input.offset;
    const time = lane.times[index]!;
    const r = this.record;
    const source = lane.source;
    let slot = lane.slot;
    if (source === this.exchangeSource) {
      const value = input.value as Partial<ExchangeMarker> & Partial<ExchangeRecord>;
      if (value?.watermark !== undefined) return this.receiveMarker(lane, value as ExchangeMarker);
      if (value?.at !== undefined && !this.exchangeProgress.take(value as ExchangeRecord)) return; // sent again after an upstream restart
      slot = this.exchangeSlots[value?.from ?? -1] ?? lane.slot;
    }
    r.source = source.name;
    r.partition = lane.partition;
    r.offset = input.offset;
    r.value = input.value;
    r.raw = input.raw;
    r.key = undefined;
    r.time = time;
    r.outcome = Outcome.Processed;
    r.result = undefined;
    this.stats.in++;
    this.inDispatch = true;
    this.dispatchSource = source.name;
    this.dispatchPartition = lane.partition;
    this.dispatchOffset = input.offset;
    if (time !== time) {
      this.deadLetter(lane.reasons.get(index)!);
    } else {
      const subscribers = source.subscribers;
      for (let i = 0; i < subscribers.length; i++) subscribers[i]!.next(input.value);
      if (this.edges !== undefined) this.edges.dispatched(lane.slot, time);
      this.advanceWatermark(this.watermarks.observe(slot, time));
    }
    this.inDispatch = false;
    for (const entry of this.enrichedTables) entry.commit();
    // Each input event is counted once, in exactly one outcome (docs/semantics.md, bad input).
    if (r.outcome === Outcome.Processed) this.stats.processed++;
    else {
      if (r.outcome === Outcome.Late) this.stats.late++;
      else this.stats.deadLettered++;
      // An operator that batches may still letter it in this burst: it must know it is not processed.
      if (this.burstEndHooks.length > 0) this.settled.set(`${source.name}\0${lane.partition}\0${input.offset}`, r.outcome);
    }
  }

  private advanceWatermark(moved: boolean): void {
    if (!moved) return;
    const w = this.watermarks.watermark;
    const listeners = this.watermarkListeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(w);
  }

}

/** Runs `topology` with `options` until its bounded inputs end (or `signal` aborts a live run). */
export function runTopology(topology: Topology, options: RunOptions): Promise<RunStats> {
  return new TopologyRun(topology, options).run();
}

/** A checkpoint's per-partition offsets (JSON object keys) as a map by partition number. */
function byPartition(offsets: Readonly<Record<number, number>> | undefined): Map<number, number> {
  return new Map(Object.entries(offsets ?? {}).map(([p, offset]): [number, number] => [Number(p), offset]));
}
