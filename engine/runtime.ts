import { RtmlError, errorMessage } from './errors.ts';
import type { ExchangeSide, OperatorHost, TelemetryCapability } from './host.ts';
import type { SinkTransaction } from './io.ts';
import type { ModelProvider } from './modelProvider.ts';
import type { MonitoringRecorder } from './monitoring/records.ts';
import type { PredictionTap } from './predictionTap.ts';
import { RangeEdges } from './rangeEdges.ts';
import { RecordContext } from './record.ts';
import { RunMetrics, type RunCounter, type RunGauge } from './metrics.ts';
import type { Topology } from './topology.ts';
import { Bindings } from './run/bindings.ts';
import { byPartition, Checkpointer, commitSources, positionsOf, sourceOffsetsOf, sourceStatesOf, type CheckpointedRun } from './run/checkpointer.ts';
import { EXCHANGE, Exchange } from './run/exchange.ts';
import { FeatureAccess } from './run/featureAccess.ts';
import { TopologyGraph } from './run/graph.ts';
import { Lane } from './run/lanes.ts';
import { Lifecycle } from './run/lifecycle.ts';
import { OperatorStates } from './run/operatorStates.ts';
import type { RunOptions, RunProgress, RunStats } from './run/options.ts';
import { Outcomes } from './run/outcomes.ts';
import { Scheduler } from './run/scheduler.ts';
import { WatermarkTracker } from './run/watermarks.ts';
import { logLine } from './log.ts';

export type { ExchangeBinding, RunOptions, RunProgress, RunStats } from './run/options.ts';

/**
 * Runs a topology: builds its graph, checks and opens its bindings, then lets the scheduler push
 * every input event through it in a deterministic order, checkpointing as configured. Each concern
 * lives in its own module under engine/run/ (docs/architecture.md follows one event through them);
 * this class wires them together and is the operators' host.
 */
export class TopologyRun implements OperatorHost, TelemetryCapability {
  readonly topology: string;
  readonly record = new RecordContext();
  readonly state: OperatorStates;
  readonly outputs: Outcomes;
  readonly lifecycle: Lifecycle;
  readonly features: FeatureAccess;
  readonly telemetry: TelemetryCapability = this;
  private readonly watermarks: WatermarkTracker;
  private readonly graph: TopologyGraph;
  private readonly exchangeEnds: Exchange;
  private readonly scheduler: Scheduler;
  private readonly metrics: RunMetrics;
  /** A ranged run's edges (options.cutWindows), when the range has one. */
  private readonly edges: RangeEdges | undefined;
  private bindings: Bindings | undefined;
  private checkpointer: Checkpointer | undefined;
  /** The open transactions of exactly-once sinks, committed by checkpoints. */
  private transactions = new Map<SinkTransaction, string[]>();
  private failure: unknown;
  private built = false;
  private started = 0;

  constructor(
    definition: Topology,
    private readonly options: RunOptions,
  ) {
    this.topology = definition.name;
    const fail = (err: unknown) => this.fail(err);
    this.watermarks = new WatermarkTracker(options.clock ?? Date.now);
    const edges = options.cutWindows && options.range ? new RangeEdges(options.range, options.cutWindows === 'drop', (n) => (this.outputs.stats.windowsCut += n)) : undefined;
    this.edges = edges?.active ? edges : undefined;
    this.state = new OperatorStates(this.topology, this.edges);
    this.lifecycle = new Lifecycle(fail);
    this.outputs = new Outcomes(this.topology, this.record, (name) => this.graph.lateSink(name, Bindings.lateBound(options, name)), () => this.lifecycle.batching, (m) => this.report(m));
    this.features = new FeatureAccess(this.topology, this.state, options.features, fail);
    this.graph = new TopologyGraph(
      definition,
      options.baseDir,
      () => {
        this.lifecycle.chainStarts();
        this.state.chainStarts();
      },
      this.record,
      this.outputs,
    );
    this.exchangeEnds = new Exchange(options.exchange, this.record, this.lifecycle, this.watermarks, (moved) => this.scheduler.advanced(moved), options.partitions?.[0] ?? 0);
    this.scheduler = new Scheduler(this.record, this.watermarks, this.state, this.outputs, this.features, this.exchangeEnds, this.edges, {
      fail,
      endBurst: () => this.endBurst(),
      afterBurst: (follow) => this.afterBurst(follow),
      progress: () => this.options.onProgress?.(this.progress()),
    });
    this.metrics = new RunMetrics(options.metrics, {
      topology: definition.name,
      counts: () => this.snapshot(),
      resultsBySink: () => [...this.outputs.bySink].map(([sink, c]) => [sink, c.n] as const),
      watermark: () => this.watermarks.watermark,
      live: options.follow ?? false,
      featureStore: () => {
        const store = options.features?.stats;
        if (store === undefined && !this.features.opened) return undefined;
        return { unavailable: store?.unavailable ?? false, pendingRows: this.features.pending ?? 0 };
      },
    });
  }

  // ---- OperatorHost ---------------------------------------------------------------------------

  get baseDir(): string {
    return this.options.baseDir ?? process.cwd();
  }

  models(what: string): ModelProvider {
    // rtml run always binds one (model files, and the registry with --registry); a program calling runTopology passes its own.
    if (!this.options.models) throw new RtmlError('RTML_E_BINDING', `${what} names a model, but this run has no model provider (RunOptions.models: onnxFileModels() from models/onnx)`);
    return this.options.models;
  }

  exchange(operator: string): ExchangeSide {
    return this.exchangeEnds.side(operator);
  }

  counter(name: string, help: string, labelNames: readonly string[]): RunCounter {
    return this.metrics.counter(name, help, labelNames);
  }

  gauge(name: string, help: string, labelNames: readonly string[]): RunGauge {
    return this.metrics.gauge(name, help, labelNames);
  }

  runCounts(): { in: number; late: number; deadLettered: number } {
    const { in: read, late, deadLettered } = this.outputs.stats;
    return { in: read, late, deadLettered };
  }

  get monitoring(): MonitoringRecorder | undefined {
    return this.options.monitoring;
  }

  get predictions(): PredictionTap | undefined {
    return this.options.predictions;
  }

  report(message: string): void {
    (this.options.warn ?? ((m: string) => logLine(`rtml: ${m}`, 'warn')))(message);
  }

  /** Builds the topology without running it: the repartition() it uses, if any (engine/worker.ts). */
  repartitionedBy(): string | undefined {
    this.build();
    return this.exchangeEnds.user;
  }

  // ---- building and running -------------------------------------------------------------------

  /** Builds and subscribes the topology, then checks that the bindings match what it declares. */
  private build(): Bindings {
    if (this.built) return this.bindings!;
    this.built = true;
    const outputs = this.graph.declare();
    // The exchange carries events already read (and timed) upstream: the same out-of-orderness applies.
    this.exchangeEnds.declareSource(this.graph.largestOutOfOrder(), this.state, this.topology);
    this.graph.subscribe(outputs, this, (err) => this.fail(err));
    if (this.failure !== undefined) throw this.failure;
    this.bindings = new Bindings(this.topology, this.graph, this.options);
    this.bindings.check();
    this.features.check();
    return this.bindings;
  }

  async run(): Promise<RunStats> {
    const bindings = this.build();
    const outOfOrder = this.graph.largestOutOfOrder();
    if (this.edges) this.edges.outOfOrder = outOfOrder;
    const config = this.options.checkpoint;
    this.checkpointer = config && new Checkpointer(config, this.topology, (m) => this.report(m));
    const writer = this.writerId();
    const saved = await this.checkpointer?.load(bindings.uris(), this.state.states, (sink, marker) => bindings.committedMarker(sink, marker, writer));
    const opened: { close(): Promise<void> }[] = [];
    try {
      await this.lifecycle.start(opened);
      await bindings.openSinks(saved?.sinks, opened, this.outputs, writer);
      this.transactions = bindings.transactions(this.checkpointer !== undefined);
      const store = await this.features.open();
      if (store) opened.push(store);
      const exchangeWriter = await this.exchangeEnds.openWriter(saved?.sinks[EXCHANGE]);
      if (exchangeWriter) {
        opened.push(exchangeWriter);
        bindings.writers.set(EXCHANGE, exchangeWriter);
      }
      await this.openSources(saved?.sources, saved?.sourceStates, opened);
      if (saved) {
        this.checkpointer!.restore(saved, this.state.states, this.watermarks, this.outputs.stats);
        this.outputs.stats.resumed = true;
      }
      // Sinks that append (the log): the start is saved too, so that a crash before the first
      // checkpoint resumes from it, their output cut back to where this run began.
      else if (this.checkpointer && [...bindings.writers.values()].some((w) => w.appends) && !this.fenced()) await this.checkpointer.take(this.checkpointedRun());
      this.started = performance.now();
      this.metrics.start();
      await this.scheduler.loop({
        follow: this.options.follow ?? false,
        batchSize: this.options.batchSize ?? 4096,
        pollInterval: this.options.pollInterval ?? 20,
        signal: this.options.signal,
      });
      if (this.failure !== undefined) throw this.failure;
      if (this.scheduler.completed) await this.complete();
      else if (this.checkpointer && !this.fenced()) await this.takeCheckpoint();
    } finally {
      this.metrics.stop();
      this.graph.unsubscribe();
      const closing = await Promise.allSettled(opened.map((o) => o.close()));
      const failed = closing.find((c): c is PromiseRejectedResult => c.status === 'rejected');
      if (failed && this.failure === undefined) this.failure = failed.reason;
    }
    if (this.failure !== undefined) throw this.failure;
    this.outputs.reportDrops();
    return this.snapshot();
  }

  /** Opens the sources (the exchange instead, on its receiving side) and makes a lane of each partition read. */
  private async openSources(positions: Readonly<Record<string, Readonly<Record<number, number>>>> | undefined, states: Readonly<Record<string, unknown>> | undefined, opened: { close(): Promise<void> }[]): Promise<void> {
    const { options, exchangeEnds } = this;
    const exchange = options.exchange;
    const reading =
      exchange?.side === 'receive'
        ? [{ source: exchangeEnds.source!, connector: exchange.source }]
        : [...this.graph.declared.values()].map((source) => ({ source, connector: options.sources[source.name]! }));
    for (const { source, connector } of reading) {
      const startAfter = positions?.[source.name] ? byPartition(positions[source.name]) : undefined;
      const reader = await connector.open({
        from: options.from ?? 'earliest',
        // An exchange ends by its markers, not where it stood at open.
        follow: (options.follow ?? false) || source === exchangeEnds.source,
        readerSchema: source.schema,
        startAfter,
        resume: states?.[source.name],
        range: options.range,
        partitions: options.partitions,
      });
      opened.push(reader);
      const validate = source.schema !== undefined && !reader.decodesWithReaderSchema;
      // A range ending at an offset: where each partition's range ends in event time (engine/rangeEdges.ts).
      const rangeEnds = this.edges !== undefined ? await reader.rangeEndTimes?.() : undefined;
      for (const partition of reader.partitions) {
        if (options.partitions !== undefined && !options.partitions.includes(partition)) continue;
        const slot = this.watermarks.addSlot(source.outOfOrder, source.idleTimeout);
        if (source === exchangeEnds.source) exchangeEnds.addSlots(slot);
        const lane = new Lane(source, reader, partition, slot, validate);
        const rangeEnd = rangeEnds?.get(partition);
        if (rangeEnd !== undefined) this.edges!.rangeEnd(slot, rangeEnd);
        lane.lastOffset = startAfter?.get(partition);
        this.scheduler.lanes.push(lane);
      }
    }
  }

  /** The input has ended: operators finish, outputs are written, and the sources may commit to the end. */
  private async complete(): Promise<void> {
    this.exchangeEnds.end();
    this.graph.complete(this.exchangeEnds.source);
    await this.lifecycle.finished();
    if (this.failure !== undefined) throw this.failure;
    await this.flushOutputs();
    if (!this.fenced()) {
      // Exactly-once outputs: a last checkpoint commits them (then removed, as a completed run's is).
      if (this.transactions.size > 0) await this.takeCheckpoint();
      else await commitSources(this.scheduler.lanes);
      this.checkpointer?.remove();
    }
  }

  private async endBurst(): Promise<void> {
    await this.lifecycle.endBurst();
    this.outputs.endBurst(); // every event of the burst is settled (see Outcomes.countDeadLettered)
  }

  /** After a burst: sinks and feature rows written as due, a checkpoint when due, commits a source waits for. */
  private async afterBurst(follow: boolean): Promise<void> {
    await this.bindings!.flushSome(follow);
    await this.features.flushSome(follow);
    if (this.checkpointer?.due(this.outputs.stats.in) && !this.fenced()) await this.takeCheckpoint();
    // A source blocked until what it handed out is committed (SourceReader.commitWanted): a
    // checkpoint, or without checkpoints every output written and then that source committed.
    const lanes = this.scheduler.lanes;
    if (lanes.some((l) => l.reader.commitWanted?.()) && !this.fenced()) {
      if (this.checkpointer) await this.takeCheckpoint();
      else {
        await this.flushOutputs();
        await commitSources(lanes, (reader) => reader.commitWanted?.() ?? false);
      }
    }
  }

  /** Writes out every sink and the feature store; returns the sinks' positions. */
  private async flushOutputs(): Promise<Record<string, unknown>> {
    const positions = await this.bindings!.flushAll();
    await this.features.flush();
    return positions;
  }

  /** What a checkpoint saves of this run. */
  private checkpointedRun(): CheckpointedRun {
    const lanes = this.scheduler.lanes;
    return {
      bindings: this.bindings!.uris(),
      states: this.state.states,
      watermarks: this.watermarks,
      counters: this.outputs.stats,
      positions: () => positionsOf(lanes),
      sourceStates: (positions) => sourceStatesOf(lanes, positions),
      flushOutputs: () => this.flushOutputs(),
      transactions: this.transactions,
      sourceOffsets: (positions) => sourceOffsetsOf(lanes, positions),
    };
  }

  /** Who writes this run's outputs (SinkOpenOptions.writer): the topology, and scaled out its task. */
  private writerId(): string {
    const { partitions, exchange } = this.options;
    return `${this.topology}${partitions ? `-p${partitions.join('.')}` : ''}${exchange ? `-${exchange.side}` : ''}`;
  }

  private async takeCheckpoint(): Promise<void> {
    await this.endBurst();
    const lanes = this.scheduler.lanes;
    const stats = this.outputs.stats;
    const { bytes, ms } = await this.checkpointer!.take(this.checkpointedRun());
    stats.checkpoints++;
    stats.checkpointBytes = bytes;
    stats.checkpointMs = ms;
    this.metrics.checkpointTaken(ms);
    await commitSources(lanes);
  }

  /** True once this run's partitions belong to another worker: no checkpoint or commit from then on. */
  private fenced(): boolean {
    return this.options.fenced?.() ?? false;
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    const r = this.record;
    const where = r.source ? ` at source '${r.source}' partition ${r.partition} offset ${r.offset}` : '';
    this.failure =
      err instanceof RtmlError && err.code !== 'RTML_E_PIPELINE' && !where
        ? err
        : new RtmlError('RTML_E_PIPELINE', `topology '${this.topology}' failed${where}: ${errorMessage(err)}`, { cause: err });
    this.scheduler.failed = true;
  }

  private snapshot(): RunStats {
    const stats = this.outputs.stats;
    const elapsedMs = this.started ? performance.now() - this.started : 0;
    stats.elapsedMs = elapsedMs;
    stats.eventsPerSecond = elapsedMs > 0 ? (stats.in * 1000) / elapsedMs : 0;
    stats.storeRetries = this.options.features?.stats?.retries ?? 0;
    return { ...stats };
  }

  private progress(): RunProgress {
    return { stats: this.snapshot(), ...this.scheduler.progress(), watermark: this.watermarks.watermark };
  }
}

/** Runs `topology` with `options` until its bounded inputs end (or `signal` aborts a live run). */
export function runTopology(topology: Topology, options: RunOptions): Promise<RunStats> {
  return new TopologyRun(topology, options).run();
}
