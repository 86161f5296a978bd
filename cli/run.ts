import { dirname, resolve } from 'node:path';
import { parseDuration } from '../engine/duration.ts';
import { RtmlError } from '../engine/errors.ts';
import type { LogPosition, SinkConnector, SourceConnector } from '../engine/io.ts';
import { runTopology, type RunOptions, type RunProgress, type RunStats } from '../engine/runtime.ts';
import { runWorker } from '../engine/worker.ts';
import { featureStore, type RtmlFeatureStore } from '../connectors/features/featureStore.ts';
import { DEFAULT_OFFLINE, DEFAULT_ONLINE, offlineStoreFromUri, onlineStoreFromUri } from '../connectors/features/uri.ts';
import { parseRegistryUrl } from '../connectors/kafka/schemaRegistry.ts';
import { sinkFromUri, sourceFromUri } from '../connectors/uri.ts';
import { DEFAULT_ARTIFACTS, DEFAULT_REGISTRY, modelLoadMetrics, registryModels } from '../models/registry/index.ts';
import { onnxFileModels } from '../models/onnx/index.ts';
import { monitoringRecorder } from '../monitoring/postgresRecorder.ts';
import type { Topology } from '../engine/topology.ts';
import { loadTopology } from './loadTopology.ts';
import { startMetricsServer, type MetricsServer } from './metricsServer.ts';
import { progressBar } from './progress.ts';
import { logLine } from '../engine/log.ts';

export interface RunCommandOptions {
  source: string[];
  sink: string[];
  from: string;
  follow: boolean;
  progress: boolean;
  batchSize?: number;
  /** Replay: the range of the log to re-run (offsets or times). */
  range?: { from?: string; to?: string };
  /** What becomes of windows the range's edges cut (RunOptions.cutWindows; default mark). */
  cutWindows?: 'mark' | 'drop';
  /** Feature stores materialize() writes to. */
  online?: string;
  offline?: string;
  /** The model registry score('registry:NAME') loads from. */
  registry?: string;
  artifacts?: string;
  checkpointDir?: string;
  checkpointInterval?: string;
  checkpointEvery?: number;
  /** Run as one worker of a Kafka consumer group sharing the source's partitions (engine/worker.ts). */
  scaleOut?: boolean;
  exactlyOnce?: boolean;
  /** Confluent Schema Registry URL: Avro on kafka:// bindings uses its schema ids instead of local ids. */
  schemaRegistry?: string;
  /** Serve Prometheus metrics and a health check on this port while the run runs (0: any free port). */
  metricsPort?: number;
  metricsHost?: string;
  /** Print a status line to stderr this often (a duration), when stderr is not a terminal. */
  statusInterval?: string;
  /** Where monitor() and monitorAccuracy() write their rows: postgres://… or pglite:<dir>. */
  monitorDb?: string;
}

export function bindings<C>(pairs: string[], flag: string, make: (uri: string, flag: string) => C): Record<string, C> {
  const out: Record<string, C> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new RtmlError('RTML_E_USAGE', `${flag} ${pair}: expected NAME=URI`);
    const name = pair.slice(0, eq);
    if (out[name] !== undefined) throw new RtmlError('RTML_E_USAGE', `${flag} ${name} is given twice`);
    out[name] = make(pair.slice(eq + 1), `${flag} ${name}`);
  }
  return out;
}

/** A replay position: a whole number is an offset; an ISO date-time or `t:<epoch ms>` is an event time. */
export function parsePosition(text: string, flag: string): LogPosition {
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  const ms = text.startsWith('t:') ? Number(text.slice(2)) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new RtmlError('RTML_E_USAGE', `${flag} ${text}: use an offset (a whole number), an ISO date-time or t:<epoch ms>`);
  return { time: ms };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

export function summaryLine(stats: RunStats, cutWindows: 'mark' | 'drop' = 'mark'): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    `rtml: ${stats.topology}: events in ${n(stats.in)}, processed ${n(stats.processed)}, late ${n(stats.late)}, ` +
    `dead-lettered ${n(stats.deadLettered)}, results out ${n(stats.resultsOut)}, ` +
    // Results (not input events) materialize() could not take: shown only when there are some.
    (stats.resultsDeadLettered > 0 ? `results dead-lettered ${n(stats.resultsDeadLettered)}, ` : '') +
    `elapsed ${seconds(stats.elapsedMs)}, ` +
    `${n(Math.round(stats.eventsPerSecond))} events/s` +
    (stats.resumed ? ', resumed from a checkpoint' : '') +
    (stats.checkpoints > 0 ? `, checkpoints ${n(stats.checkpoints)} (last ${n(stats.checkpointBytes)} bytes in ${stats.checkpointMs.toFixed(1)} ms)` : '') +
    (stats.storeRetries > 0 ? `, store retries ${n(stats.storeRetries)}` : '') +
    (stats.windowsCut > 0
      ? `, ${n(stats.windowsCut)} result(s) cut by the range edges ` + (cutWindows === 'drop' ? 'not emitted' : '(emitted from part of their events, not written to the feature stores)')
      : '')
  );
}

/** The periodic status line of a long run (--status-interval): counts so far, watermark and its lag, store state. */
export function statusLine(progress: RunProgress, storeUnavailable: boolean, now = Date.now()): string {
  const { stats, watermark } = progress;
  const n = (x: number) => x.toLocaleString('en-US');
  const w = Number.isFinite(watermark) ? `${new Date(watermark).toISOString()} (lag ${seconds(now - watermark)})` : watermark === Infinity ? 'end of input' : 'none yet';
  return (
    `rtml: ${stats.topology}: status: events in ${n(stats.in)}, processed ${n(stats.processed)}, late ${n(stats.late)}, ` +
    `dead-lettered ${n(stats.deadLettered)}, results out ${n(stats.resultsOut)}, watermark ${w}, checkpoints ${n(stats.checkpoints)}` +
    (stats.storeRetries > 0 ? `, store retries ${n(stats.storeRetries)}` : '') +
    (storeUnavailable ? ', feature store unavailable (retrying)' : '')
  );
}

/** The feature stores of a run: Redis or in-process online, Postgres or PGlite offline (connect on first use). */
export function featureStoreFor(options: { online?: string; offline?: string }, signal: AbortSignal): RtmlFeatureStore {
  return featureStore({
    online: onlineStoreFromUri(options.online ?? DEFAULT_ONLINE),
    offline: offlineStoreFromUri(options.offline ?? DEFAULT_OFFLINE),
    signal,
  });
}

export interface RunExtras {
  /** Binds sinks the command does not (backfill: null:). */
  defaultSink?: SinkConnector;
  /** The feature store to use instead of --online/--offline. */
  features?: (signal: AbortSignal) => RtmlFeatureStore;
  /** A topology built by the command (rtml monitor) instead of one loaded from the file argument. */
  topology?: Topology;
  /** Called once the run has started (rtml monitor --retrain starts its retraining loop); what it returns is stopped when the run ends. */
  alongside?: (signal: AbortSignal) => { stop(): Promise<void> };
}

/** `rtml run`: binds a topology file's sources and sinks to URIs and runs it. */
export async function runCommand(file: string, options: RunCommandOptions, extras: RunExtras = {}): Promise<void> {
  let range = options.range && {
    from: options.range.from === undefined ? undefined : parsePosition(options.range.from, '--from'),
    to: options.range.to === undefined ? undefined : parsePosition(options.range.to, '--to'),
  };
  if (!range && options.from !== 'earliest' && options.from !== 'latest') {
    // `run --from <time>`: every partition starts at its first record stamped at or after it (live with --follow).
    const from = parsePosition(options.from, '--from');
    if (!('time' in from)) throw new RtmlError('RTML_E_USAGE', `--from ${options.from}: use earliest, latest, an ISO date-time or t:<epoch ms> (offsets are for rtml replay)`);
    range = { from, to: undefined };
  }
  if (options.schemaRegistry !== undefined) parseRegistryUrl(options.schemaRegistry);
  const transport = { schemaRegistry: options.schemaRegistry, exactlyOnce: options.exactlyOnce };
  const sources = bindings<SourceConnector>(options.source, '--source', (uri, flag) => sourceFromUri(uri, flag, transport));
  const sinks = bindings<SinkConnector>(options.sink, '--sink', (uri, flag) => sinkFromUri(uri, flag, transport));
  if (options.checkpointDir === undefined && (options.checkpointInterval !== undefined || options.checkpointEvery !== undefined)) {
    throw new RtmlError('RTML_E_USAGE', '--checkpoint-interval and --checkpoint-every need --checkpoint-dir');
  }
  const checkpoint =
    options.checkpointDir === undefined
      ? undefined
      : {
          dir: options.checkpointDir,
          intervalMs: parseDuration(options.checkpointInterval ?? '10s', '--checkpoint-interval'),
          everyEvents: options.checkpointEvery,
          // Crash tests only: hold each checkpoint write half-done this long.
          pauseMs: Number(process.env.RTML_TEST_CHECKPOINT_PAUSE_MS ?? 0),
        };
  if (options.exactlyOnce && checkpoint === undefined) {
    throw new RtmlError('RTML_E_USAGE', '--exactly-once needs --checkpoint-dir: each checkpoint commits the transaction of the outputs since the last one');
  }
  if (options.scaleOut && checkpoint === undefined) {
    throw new RtmlError('RTML_E_USAGE', '--scale-out needs --checkpoint-dir: a directory every worker shares, where each partition\'s state is handed over');
  }
  const statusMs = options.statusInterval === undefined ? undefined : parseDuration(options.statusInterval, '--status-interval');
  if (statusMs !== undefined && !(statusMs > 0)) throw new RtmlError('RTML_E_USAGE', `--status-interval ${options.statusInterval}: must be longer than 0`);
  const { topology, path } = extras.topology !== undefined ? { topology: extras.topology, path: resolve(file) } : await loadTopology(file);
  const monitoring = options.monitorDb === undefined ? undefined : monitoringRecorder(options.monitorDb);
  let metrics: MetricsServer | undefined;
  if (options.metricsPort !== undefined) {
    metrics = await startMetricsServer(options.metricsPort, options.metricsHost ?? '127.0.0.1', topology.name);
    logLine(`rtml: metrics on ${metrics.url}/metrics (health: ${metrics.url}/health, dashboard: ${metrics.url}/dashboard)`);
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const bar = progressBar(options.progress);
  const features = extras.features ? extras.features(controller.signal) : featureStoreFor(options, controller.signal);
  const models = registryModels(options.registry ?? DEFAULT_REGISTRY, options.artifacts ?? DEFAULT_ARTIFACTS, (line) => logLine(line));
  if (metrics !== undefined) modelLoadMetrics(metrics.registry, models);
  let stats: RunStats;
  // --status-interval: the latest progress, printed on a timer (so a run blocked on a store still reports).
  let latest: RunProgress | undefined;
  const status =
    statusMs !== undefined && !process.stderr.isTTY
      ? setInterval(() => latest && logLine(statusLine({ ...latest, stats: { ...latest.stats, storeRetries: features.stats.retries } }, features.stats.unavailable)), statusMs)
      : undefined;
  status?.unref();
  let beside: { stop(): Promise<void> } | undefined;
  try {
    const run: RunOptions = {
      sources,
      sinks,
      from: range ? 'earliest' : (options.from as 'earliest' | 'latest'),
      range,
      // replay / backfill: only windows wholly inside the range are emitted (not `run --from <time>`, a live start).
      cutWindows: options.range !== undefined ? (options.cutWindows ?? 'mark') : undefined,
      follow: options.follow,
      signal: controller.signal,
      baseDir: dirname(path),
      batchSize: options.batchSize,
      checkpoint,
      features,
      models: onnxFileModels(models),
      defaultSink: extras.defaultSink,
      onProgress: (p) => {
        latest = p;
        bar.update(p);
      },
      warn: (m) => logLine(`rtml: ${m}`, 'warn'),
      metrics: metrics?.registry,
      predictions: metrics?.predictions,
      monitoring,
    };
    beside = extras.alongside?.(controller.signal);
    stats = options.scaleOut && checkpoint ? await runWorker(topology, { ...run, checkpoint }) : await runTopology(topology, run);
  } finally {
    clearInterval(status);
    bar.stop();
    metrics?.stopping();
    await metrics?.close();
    await beside?.stop();
    await models.close();
    await monitoring?.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  logLine(summaryLine(stats, options.cutWindows));
  if (features.stats.rowsWritten > 0) {
    logLine(`rtml: features: ${features.stats.rowsWritten.toLocaleString('en-US')} row(s) written to ${features.description}` + (features.stats.retries > 0 ? ` after ${features.stats.retries} retries (last: ${features.stats.lastError})` : ''));
  }
}
