import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * A running topology's Prometheus metrics (prom-client), registered in the registry a caller passes
 * as `RunOptions.metrics` (rtml run --metrics-port serves it). Names start with `rtml_`, like the
 * serving metrics (serving/metrics.ts), and every series has a `topology` label.
 *
 * Nothing is recorded per event: the event counters, the watermark and the feature store's state
 * are read from the run when the registry is scraped (collect callbacks); checkpoints are observed
 * once each, and operators (score) increment their counters once per batch. Several runs may share
 * one registry (the tasks of a scale-out worker): their counts are summed per topology, and a run
 * that ended keeps counting in the totals.
 */

/** A counter an operator increments per batch, never per event. */
export interface RunCounter {
  /** The child for these label values, in the order of the counter's label names (cache it). */
  labels(...values: string[]): { inc(by?: number): void };
}

/** A gauge an operator sets when what it measures changes (a window's drift statistic), never per event. */
export interface RunGauge {
  /** The child for these label values, in the order of the gauge's label names (cache it). */
  labels(...values: string[]): { set(value: number): void };
}

const NOOP_CHILD = { inc(): void {}, set(): void {} };
/** What operators get when the run exports no metrics. */
export const NOOP_COUNTER: RunCounter = { labels: () => NOOP_CHILD };
export const NOOP_GAUGE: RunGauge = { labels: () => NOOP_CHILD };

/** What a run shows its metrics; read at scrape time. */
export interface MetricsSource {
  readonly topology: string;
  /** The run's counters (RunStats). */
  counts(): Readonly<{ in: number; processed: number; late: number; deadLettered: number; resultsDeadLettered: number; windowsCut: number; checkpoints: number; checkpointBytes: number; storeRetries: number }>;
  /** Results written, per sink(...) name. */
  resultsBySink(): Iterable<readonly [string, number]>;
  /** The topology's current watermark, epoch ms (-Infinity before any event, Infinity at the end). */
  watermark(): number;
  /** True for a live run (--follow): the watermark lag is exported. */
  readonly live: boolean;
  /** The feature store, when the run writes to one. */
  featureStore(): { unavailable: boolean; pendingRows: number } | undefined;
}

const COUNTS = [
  ['events_in_total', 'Input events read (processed + late + dead-lettered)', 'in'],
  ['events_processed_total', 'Input events processed', 'processed'],
  ['events_late_total', 'Input events too late for all their windows (late sink, or dropped)', 'late'],
  ['events_dead_lettered_total', 'Input events sent to the dead-letter output (bad input, failed model calls)', 'deadLettered'],
  ['results_dead_lettered_total', 'Window results sent to the dead-letter output (e.g. features that are not numbers)', 'resultsDeadLettered'],
  ['windows_cut_total', 'Windows of a replay or backfill range cut by its edges (partial: never written to the feature stores)', 'windowsCut'],
  ['checkpoints_total', 'Checkpoints taken by this process', 'checkpoints'],
  ['feature_store_retries_total', 'Feature store attempts that failed because a store was unreachable, and were retried', 'storeRetries'],
] as const;

type CountName = (typeof COUNTS)[number][2];
type Totals = Record<CountName, number> & { sinks: Map<string, number> };

/** The engine's metrics in one registry (shared by every run registered with it). */
class EngineMetrics {
  private readonly runs = new Set<MetricsSource>();
  /** Per topology, the counts of runs that ended. */
  private readonly retired = new Map<string, Totals>();
  private readonly counters = new Map<string, Counter<string>>();
  private readonly gauges = new Map<string, Gauge<string>>();
  readonly checkpointDuration: Histogram<'topology'>;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    const totalsOf = () => this.totals();
    const runs = this.runs;
    for (const [name, help, field] of COUNTS) {
      new Counter({
        name: `rtml_${name}`,
        help,
        labelNames: ['topology'],
        registers,
        collect: collectInto(totalsOf, (t) => t[field]),
      });
    }
    new Counter({
      name: 'rtml_results_out_total',
      help: 'Values written by the topology\'s sink(...) operators, per sink',
      labelNames: ['topology', 'sink'],
      registers,
      collect: function (this: Counter<string>) {
        this.reset();
        for (const [topology, t] of totalsOf()) for (const [sink, n] of t.sinks) this.inc({ topology, sink }, n);
      },
    });
    /** Several runs of one topology (scale-out tasks) show one value: the lowest (watermarks) or the highest. */
    const gauge = (name: string, help: string, read: (run: MetricsSource) => number | undefined, combine: (a: number, b: number) => number = Math.max) =>
      new Gauge({
        name: `rtml_${name}`,
        help,
        labelNames: ['topology'],
        registers,
        collect: function (this: Gauge<string>) {
          this.reset();
          const by = new Map<string, number>();
          for (const run of runs) {
            const v = read(run);
            if (v === undefined || !Number.isFinite(v)) continue;
            const seen = by.get(run.topology);
            by.set(run.topology, seen === undefined ? v : combine(seen, v));
          }
          for (const [topology, v] of by) this.set({ topology }, v);
        },
      });
    gauge('watermark_seconds', "The topology's current watermark (event time, epoch seconds with ms precision); absent before the first event", (run) => run.watermark() / 1000, Math.min);
    gauge('watermark_lag_seconds', 'Live runs: wall-clock time minus the watermark', (run) => (run.live ? (Date.now() - run.watermark()) / 1000 : undefined));
    gauge('checkpoint_bytes', 'Size of the last checkpoint', (run) => (run.counts().checkpoints > 0 ? run.counts().checkpointBytes : undefined));
    gauge('feature_store_unavailable', '1 while a feature store is unreachable and writes are being retried, else 0', (run) => {
      const s = run.featureStore();
      return s === undefined ? undefined : s.unavailable ? 1 : 0;
    });
    gauge('feature_store_pending_rows', 'Feature rows buffered or in flight, not yet in both stores', (run) => run.featureStore()?.pendingRows);
    this.checkpointDuration = new Histogram({
      name: 'rtml_checkpoint_duration_seconds',
      help: 'Time to take a checkpoint: flushing the outputs, then writing state and positions',
      labelNames: ['topology'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }

  add(run: MetricsSource): () => void {
    this.runs.add(run);
    return () => {
      if (!this.runs.delete(run)) return;
      const t = this.retiredOf(run.topology);
      addCounts(t, run);
    };
  }

  /** Counts per topology: runs that ended plus the running ones. */
  private totals(): Map<string, Totals> {
    const out = new Map<string, Totals>();
    for (const [topology, t] of this.retired) out.set(topology, { ...t, sinks: new Map(t.sinks) });
    for (const run of this.runs) {
      let t = out.get(run.topology);
      if (t === undefined) out.set(run.topology, (t = emptyTotals()));
      addCounts(t, run);
    }
    return out;
  }

  private retiredOf(topology: string): Totals {
    let t = this.retired.get(topology);
    if (t === undefined) this.retired.set(topology, (t = emptyTotals()));
    return t;
  }

  counter(name: string, help: string, labelNames: readonly string[]): Counter<string> {
    const full = `rtml_${name}`;
    let counter = this.counters.get(full);
    if (counter === undefined) {
      counter = new Counter({ name: full, help, labelNames: ['topology', ...labelNames], registers: [this.registry] });
      this.counters.set(full, counter);
    }
    return counter;
  }

  /** rtml_<name>{topology, ...labelNames}, made once per registry. */
  gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
    const full = `rtml_${name}`;
    let gauge = this.gauges.get(full);
    if (gauge === undefined) {
      gauge = new Gauge({ name: full, help, labelNames: ['topology', ...labelNames], registers: [this.registry] });
      this.gauges.set(full, gauge);
    }
    return gauge;
  }
}

function emptyTotals(): Totals {
  return { in: 0, processed: 0, late: 0, deadLettered: 0, resultsDeadLettered: 0, windowsCut: 0, checkpoints: 0, storeRetries: 0, sinks: new Map() };
}

function addCounts(t: Totals, run: MetricsSource): void {
  const c = run.counts();
  for (const [, , field] of COUNTS) if (field !== 'storeRetries') t[field] += c[field];
  // Runs of one process share its feature store: its retries once, not per run.
  t.storeRetries = Math.max(t.storeRetries, c.storeRetries);
  for (const [sink, n] of run.resultsBySink()) t.sinks.set(sink, (t.sinks.get(sink) ?? 0) + n);
}

/** A collect callback setting a counter per topology from the totals (a count that fell back, e.g. a recount, is shown as it is). */
function collectInto(totals: () => Map<string, Totals>, read: (t: Totals) => number) {
  return function (this: Counter<string>): void {
    this.reset();
    for (const [topology, t] of totals()) this.inc({ topology }, Math.max(0, read(t)));
  };
}

const byRegistry = new WeakMap<Registry, EngineMetrics>();

/** A run's handle on the metrics registry it reports to (RunOptions.metrics); inert without one. */
export class RunMetrics {
  private readonly engine: EngineMetrics | undefined;
  private readonly checkpointChild: { observe(seconds: number): void } | undefined;
  private remove: (() => void) | undefined;

  constructor(
    registry: Registry | undefined,
    private readonly source: MetricsSource,
  ) {
    if (registry === undefined) return;
    let engine = byRegistry.get(registry);
    if (engine === undefined) byRegistry.set(registry, (engine = new EngineMetrics(registry)));
    this.engine = engine;
    this.checkpointChild = engine.checkpointDuration.labels({ topology: source.topology });
  }

  /** Starts exporting the run's counts (once its sources are open). */
  start(): void {
    if (this.engine !== undefined && this.remove === undefined) this.remove = this.engine.add(this.source);
  }

  /** The run ended: its last counts stay in the totals. */
  stop(): void {
    this.remove?.();
  }

  checkpointTaken(ms: number): void {
    this.checkpointChild?.observe(ms / 1000);
  }

  /** rtml_<name>{topology, ...labelNames}: a no-op without a registry. */
  counter(name: string, help: string, labelNames: readonly string[]): RunCounter {
    return this.engine === undefined ? NOOP_COUNTER : this.children(this.engine.counter(name, help, labelNames));
  }

  /** rtml_<name>{topology, ...labelNames}: a no-op without a registry. */
  gauge(name: string, help: string, labelNames: readonly string[]): RunGauge {
    return this.engine === undefined ? NOOP_GAUGE : this.children(this.engine.gauge(name, help, labelNames));
  }

  /** The metric's children for this run's topology, made once per label values. */
  private children<C>(metric: { labels(...values: string[]): C }): { labels(...values: string[]): C } {
    const topology = this.source.topology;
    const made = new Map<string, C>();
    return {
      labels: (...values: string[]) => {
        const id = values.join('\u0000');
        let child = made.get(id);
        if (child === undefined) {
          child = metric.labels(topology, ...values);
          made.set(id, child);
        }
        return child;
      },
    };
  }
}
