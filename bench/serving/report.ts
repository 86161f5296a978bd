import { gcCell, type GcSummary } from './gcTrace.ts';
import type { OpenLoopResult } from './open-loop.ts';
import type { WrkResult } from './wrk.ts';
import type { WsResult } from './ws-client.ts';

/** The serving benchmark's output: one line per figure, every server side by side. */

export interface Measured {
  saturation: WrkResult & { cpuPercent: number };
  memory: { rssMb: number; peakMb: number; processes: number };
  fixed: OpenLoopResult[];
  /** Node servers: V8's collections during each fixed-rate run (--trace-gc-nvp). */
  fixedGc?: GcSummary[];
  /** rtml only. */
  batch?: WrkResult | string;
  ws?: WsResult | string;
}

export interface Outcome {
  label: string;
  /** Set for rtml: the ratios are rtml's throughput over each peer's. */
  isRtml: boolean;
  /** The machine's floor (constant answers): no throughput ratio. */
  floor?: boolean;
  result?: Measured;
  /** Why there is no result: a failure, or rtml's `serve not available: …`. */
  missing?: string;
}

export interface RunInfo {
  seconds: number;
  connections: number;
  rates: number[];
  batchSize: number;
  wsInflight: number;
}

/** 36123 -> 36.1k, 3000 -> 3k, 950 -> 950. */
export const kilo = (n: number) => (n >= 1000 ? `${Number((n / 1000).toFixed(n >= 100_000 ? 0 : 1))}k` : String(Math.round(n)));
export const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v < 1 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ms`);
const errors = (n: number) => (n > 0 ? `, ${n} errors` : '');

export function reportLines(outcomes: readonly Outcome[], run: RunInfo): string[] {
  const rtml = outcomes.find((o) => o.isRtml)?.result;
  /** One cell per server: `label text`, or why it has none. */
  const row = (cell: (m: Measured, o: Outcome) => string) =>
    outcomes.map((o) => (o.result === undefined ? `${o.label}: ${o.missing}` : `${o.label} ${cell(o.result, o)}`)).join(' | ');
  const ratio = (m: Measured, o: Outcome) => {
    if (rtml === undefined || o.isRtml || o.floor) return '';
    const r = rtml.saturation.rps / m.saturation.rps;
    return ` (rtml ${r.toFixed(r >= 10 ? 1 : 2)}x)`;
  };
  const lines = [
    `serve /predict saturation (wrk 1 thread, ${run.connections} connections, ${run.seconds} s): ` +
      row((m, o) => `${kilo(m.saturation.rps)} RPS p50 ${ms(m.saturation.p50Ms)} p99 ${ms(m.saturation.p99Ms)}${errors(m.saturation.errors)}${ratio(m, o)}`),
  ];
  run.rates.forEach((rate, i) => {
    const generatorCpu = Math.max(0, ...outcomes.map((o) => o.result?.fixed[i]?.cpuPercent ?? 0));
    lines.push(`serve /predict p99 at fixed ${kilo(rate)} RPS (open loop, from the scheduled send): ` + row((m) => fixedCell(m.fixed[i]!)) + `; generator <= ${Math.round(generatorCpu)}% of a core`);
    lines.push(`serve GC at fixed ${kilo(rate)} RPS (${run.seconds} s, --trace-gc-nvp): ` + row((m) => (m.fixedGc?.[i] === undefined ? 'not traced' : gcCell(m.fixedGc[i]!))));
  });
  lines.push(`serve RSS under load (after saturation; peak in parentheses): ` + row((m) => `${Math.round(m.memory.rssMb)} MB (${Math.round(m.memory.peakMb)})${m.memory.processes > 1 ? ` in ${m.memory.processes} processes` : ''}`));
  lines.push(`serve CPU during saturation (2 cores, wrk on the same machine): ` + row((m) => `${Math.round(m.saturation.cpuPercent)}% (wrk ${Math.round(m.saturation.generatorCpuPercent)}% of a core)`));
  const rtmlOnly = outcomes.filter((o) => o.isRtml);
  if (rtmlOnly.length > 0) {
    const only = (cell: (m: Measured) => string) => rtmlOnly.map((o) => (o.result === undefined ? `rtml: ${o.missing}` : `rtml ${cell(o.result)}`)).join('');
    lines.push(`serve /predict/batch ${run.batchSize}: ` + only((m) => (typeof m.batch === 'string' ? `failed (${m.batch})` : m.batch === undefined ? 'not measured' : batchCell(m.batch, run.batchSize))));
    lines.push(`serve /ws one connection (${run.wsInflight} in flight): ` + only((m) => (typeof m.ws === 'string' ? `failed (${m.ws})` : m.ws === undefined ? 'not measured' : wsCell(m.ws))));
  }
  return lines;
}

/** A fixed-rate result: p99 (p50), or that the server could not keep up and what it achieved. */
export function fixedCell(r: OpenLoopResult): string {
  const failed = r.errors > 0 ? `, ${r.errors} errors` : '';
  if (r.achievedRps < 0.95 * r.rate || r.unfinished > 0) {
    return `cannot sustain it (${kilo(r.achievedRps)} RPS achieved, p99 ${r.p99Ms === null ? 'unanswered' : ms(r.p99Ms)}${failed})`;
  }
  return `${r.p99Ms === null ? 'p99 unanswered' : ms(r.p99Ms)} (p50 ${r.p50Ms === null ? '-' : ms(r.p50Ms)})${failed}`;
}

function batchCell(w: WrkResult, size: number): string {
  return `${kilo(w.rps * size)} rows/s (${kilo(w.rps)} RPS, p50 ${ms(w.p50Ms)} p99 ${ms(w.p99Ms)}${errors(w.errors)})`;
}

function wsCell(w: WsResult): string {
  return `${kilo(w.messagesPerSecond)} msg/s p50 ${ms(w.p50Ms)} p99 ${ms(w.p99Ms)}${errors(w.errors)}`;
}
