/**
 * Child process of bench/nexmark.ts (run with --expose-gc): runs one Nexmark query over `events`
 * generated in process and prints its figures as one JSON line: events read, CPU and wall seconds
 * of the run, results, the peak heap, and the heap after a GC half-way through the input and at its end.
 * Run: node --expose-gc --import tsx bench/nexmark/run-query.ts q5 1000000
 */
import { getHeapStatistics } from 'node:v8';
import type { SinkConnector } from '../../engine/io.ts';
import { runTopology } from '../../engine/runtime.ts';
import { countOf, NexmarkGenerator } from './generator.ts';
import { isQueryName, loadQuery, QUERIES } from './queries.ts';
import { nexmarkSources } from './sources.ts';

export interface QueryFigures {
  read: number;
  cpuSeconds: number;
  wallSeconds: number;
  results: number;
  peakHeapBytes: number;
  halfHeapBytes: number;
  endHeapBytes: number;
}

const [name = '', eventsArg = '1000000'] = process.argv.slice(2);
if (!isQueryName(name)) throw new Error(`no Nexmark query ${JSON.stringify(name)} (queries: ${Object.keys(QUERIES).join(', ')})`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const generator = new NexmarkGenerator({ events: Number(eventsArg) });
const kinds = QUERIES[name];
const total = kinds.reduce((n, kind) => n + countOf(kind, generator.events), 0);

let read = 0;
let peakHeapBytes = 0;
let halfHeapBytes = NaN;
let endHeapBytes = NaN;
// The samples' GCs are left out of the CPU and wall times.
let sampleCpuMicros = 0;
let sampleWallMs = 0;
const heapAfterGc = (): number => {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  gc();
  const heap = process.memoryUsage().heapUsed;
  const spent = process.cpuUsage(cpu);
  sampleCpuMicros += spent.user + spent.system;
  sampleWallMs += performance.now() - wall;
  return heap;
};
// Called as each batch is handed to the run: before its events are processed.
const onRead = (n: number): void => {
  read += n;
  peakHeapBytes = Math.max(peakHeapBytes, getHeapStatistics().used_heap_size);
  if (Number.isNaN(halfHeapBytes) && read >= total / 2) halfHeapBytes = heapAfterGc();
  if (read === total) endHeapBytes = heapAfterGc();
};

let results = 0;
const counting: SinkConnector = {
  uri: 'count:',
  open: async () => ({ pending: 0, write: () => void results++, flush: async () => {}, close: async () => {} }),
};

const topology = await loadQuery(name);
const cpu = process.cpuUsage();
const wall = performance.now();
const stats = await runTopology(topology, { sources: nexmarkSources(generator, kinds, onRead), sinks: { out: counting } });
const spent = process.cpuUsage(cpu);
const wallMs = performance.now() - wall;
if (stats.in !== total || stats.processed !== total) throw new Error(`${name}: ${stats.in} events in, ${stats.processed} processed, of ${total}`);
const figures: QueryFigures = {
  read,
  cpuSeconds: (spent.user + spent.system - sampleCpuMicros) / 1e6,
  wallSeconds: (wallMs - sampleWallMs) / 1000,
  results,
  peakHeapBytes,
  halfHeapBytes,
  endHeapBytes,
};
process.stdout.write(`${JSON.stringify(figures)}\n`);
