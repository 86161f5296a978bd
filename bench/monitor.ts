/**
 * What model monitoring costs the fraud topology (issue 14: at most 10 % of its throughput). The
 * fraud topology (topologies/fraud.ts) runs as bench/fraud.ts runs it — the same model, made the
 * same way (demo transactions, `rtml backfill` of card_minute, `rtml features export`, `rtml train`
 * 30 trees depth 4, which embeds the reference profile, `rtml models register --stage production`
 * into a scratch PGlite registry), 200k demo transactions from a 4-partition embedded log,
 * predictions to a discarding sink, the in-process online store, offline rows discarded — once as
 * it is and once with `monitor('registry:fraud', { window: tumbling('1m') })` (or the window given) on its predictions
 * (after sink('predictions'), so the predictions are scored once), the drift records going to a
 * recorder that counts them (as `rtml run --monitor-db` would write them). Both in this process,
 * alternating (ABBA, so drift of the machine falls on both), after a warm-up of each; medians.
 * Prints one line.
 * Run: node --max-semi-space-size=64 --import tsx bench/monitor.ts [events] [rounds] [window] [maxValues]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipe, type MonoTypeOperatorFunction } from 'rxjs';
import { defineTopology, monitor, parseDuration, tumbling } from '../engine/index.ts';
import type { MonitoringRecorder } from '../engine/monitoring/records.ts';
import type { RunStats } from '../engine/runtime.ts';
import type { Topology } from '../engine/topology.ts';
import { fraudBench } from './fraudSetup.ts';

const n = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 5);
/** The monitor's tumbling window (the issue's figure is for 1m; the cost per event falls as windows hold more events). */
const windowText = process.argv[4] ?? '1m';
const windowSize = parseDuration(windowText, 'window');
/** Values compared per feature and window (monitor()'s maxValues; default: all of them, up to 100,000). */
const maxValues = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
const dir = mkdtempSync(join(tmpdir(), 'rtml-bench-monitor-'));
const bench = await fraudBench(dir, n);
const { fraud } = bench;

/**
 * topologies/fraud.ts as it is, but for a monitor on what its `predictions` sink writes. The
 * monitor's drift records end the stream there (fraud.ts reads nothing after the sink), hence the
 * cast back to the sink's type.
 */
const monitored = defineTopology('fraud-monitored', (builder) =>
  fraud.build({
    source: builder.source,
    sink: <T>(name: string): MonoTypeOperatorFunction<T> =>
      name === 'predictions' ? (pipe(builder.sink<T>(name), monitor('registry:fraud', { window: tumbling(windowSize), maxValues })) as unknown as MonoTypeOperatorFunction<T>) : builder.sink<T>(name),
  }),
);

let driftRecords = 0;
/** Drift records counted and discarded, as the run hands them to `rtml run --monitor-db`'s recorder. */
const countingRecorder: MonitoringRecorder = {
  description: 'counting',
  write: async (drift) => void (driftRecords += drift.length),
  close: async () => {},
};

const runOnce = (topology: Topology): Promise<RunStats> => bench.run(topology, { monitoring: countingRecorder });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await runOnce(fraud); // warm-up of both (JIT, model and profile load paths)
await runOnce(monitored);
const recordsPerRun = driftRecords;
if (recordsPerRun === 0) throw new Error('the monitor wrote no drift records: no window fired');
const plain: number[] = [];
const watched: number[] = [];
for (let i = 0; i < rounds; i++) {
  // ABBA: each pair in the other order than the last.
  for (const topology of i % 2 === 0 ? [fraud, monitored] : [monitored, fraud]) {
    const seconds = (await runOnce(topology)).elapsedMs / 1000;
    (topology === fraud ? plain : watched).push(n / seconds);
  }
}
rmSync(dir, { recursive: true, force: true });

const without = median(plain);
const withMonitor = median(watched);
const k = (eventsPerSecond: number) => `${Math.round(eventsPerSecond / 1000)}k ev/s`;
console.log(
  `monitor cost: fraud topology, ${n / 1000}k log events, 4 partitions, median of ${rounds} alternating runs each: ` +
    `without monitor ${k(without)}, with monitor('registry:fraud', tumbling ${windowText}${maxValues === undefined ? '' : `, maxValues ${maxValues}`}) ${k(withMonitor)} (${recordsPerRun.toLocaleString('en-US')} drift records a run); ` +
    `with/without ${(withMonitor / without).toFixed(3)}, cost ${((1 - withMonitor / without) * 100).toFixed(1)} % of throughput`,
);
