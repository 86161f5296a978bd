/**
 * Open-loop load at a fixed rate: request i is due at start + i / rate whatever the answers do,
 * and its latency is measured from that due time, not from when it could be sent — a server
 * that stalls is charged for the requests that piled up behind it (no coordinated omission).
 * POSTs the JSON bodies of a file (one per line) in turn, over up to `--connections` keep-alive
 * connections (http1.ts); a request due while all are busy waits for one, its wait counted.
 *
 * Run: node --import tsx bench/serving/open-loop.ts --url http://127.0.0.1:P/predict --rate 3000
 *      --duration 10 --bodies bodies.jsonl [--warmup 1] [--connections 64]
 * Prints one JSON line: OpenLoopResult.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Http1Connection, postRequest } from './http1.ts';

export interface OpenLoopResult {
  rate: number;
  /** Requests due in the measured window (after the warm-up). */
  due: number;
  /** Of those, answered with 200. */
  ok: number;
  /** Of those, failed (other status, socket error). */
  errors: number;
  /** Of those, unanswered when the drain timeout ended the run. */
  unfinished: number;
  /** Answers per second in the measured window (see below). */
  achievedRps: number;
  /** Latency percentiles from the due time over the measured requests, unanswered ones counting as infinite (null). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** CPU this generator used, in % of one core. */
  cpuPercent: number;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    bodies: { type: 'string' },
    connections: { type: 'string', default: '64' },
    drain: { type: 'string', default: '2' },
  },
});
if (values.url === undefined || values.rate === undefined || values.bodies === undefined) throw new Error('usage: --url U --rate R --bodies FILE [--duration S]');
const url = new URL(values.url);
const rate = Number(values.rate);
const warmupCount = Math.round(Number(values.warmup) * rate);
const total = warmupCount + Math.round(Number(values.duration) * rate);
const requests = readFileSync(values.bodies, 'utf8').trim().split('\n').map((line) => postRequest(url.host, url.pathname, line));
const maxConnections = Number(values.connections);
const connections: Http1Connection[] = [];
/** Connections without a request in flight. */
const idle: Http1Connection[] = [];

/** Latency of request i in ms; NaN until answered, -1 when it failed. */
const latency = new Float64Array(total).fill(Number.NaN);
let start = 0;
let next = 0;
let inFlight = 0;
const dueAt = (i: number) => start + (i * 1000) / rate;

/** Sends every request that is due, as long as connections are free (opened as needed, up to the maximum). */
function pump(): void {
  const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
  while (next < due) {
    const connection = freeConnection();
    if (connection === undefined) return;
    send(connection, next++);
  }
}

function freeConnection(): Http1Connection | undefined {
  if (idle.length > 0) return idle.pop();
  if (connections.length === maxConnections) return undefined;
  const connection = new Http1Connection(url.hostname, Number(url.port));
  connections.push(connection);
  return connection;
}

function send(connection: Http1Connection, i: number): void {
  inFlight++;
  connection.send(requests[i % requests.length]!, (status) => {
    latency[i] = status === 200 ? performance.now() - dueAt(i) : -1;
    inFlight--;
    idle.push(connection);
    pump();
  });
}

const cpuBefore = process.cpuUsage();
start = performance.now();
// Timers fire about every millisecond: each tick sends what fell due since the last one. Requests
// still waiting for a connection (or an answer) `--drain` seconds after the last one fell due are
// given up: unfinished, infinitely late.
const deadline = dueAt(total) + Number(values.drain) * 1000;
await new Promise<void>((resolve) => {
  const tick = () => {
    pump();
    if ((next < total || inFlight > 0) && performance.now() < deadline) setTimeout(tick, 1);
    else resolve();
  };
  tick();
});
const elapsed = performance.now() - start;
const cpu = process.cpuUsage(cpuBefore);

const measured = Array.from(latency.subarray(warmupCount));
const answered = measured.filter((v) => v >= 0).sort((a, b) => a - b);
const pct = (p: number): number | null => {
  const index = Math.min(measured.length - 1, Math.floor((measured.length * p) / 100));
  return index < answered.length ? answered[index]! : null; // beyond the answered ones: infinite
};
// Throughput: answers (to any request, warm-up ones included) that came in the measured window.
// A server that keeps up answers at the offered rate; one that does not, at its capacity.
const [from, to] = [dueAt(warmupCount), dueAt(total)];
let inWindow = 0;
latency.forEach((v, i) => {
  const answeredAt = dueAt(i) + v;
  if (v >= 0 && answeredAt >= from && answeredAt < to) inWindow++;
});
const result: OpenLoopResult = {
  rate,
  due: measured.length,
  ok: answered.length,
  errors: measured.filter((v) => v === -1).length,
  unfinished: measured.filter((v) => Number.isNaN(v)).length,
  achievedRps: inWindow / ((to - from) / 1000),
  p50Ms: pct(50),
  p99Ms: pct(99),
  cpuPercent: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
};
console.log(JSON.stringify(result));
// Requests still unanswered after the drain hold sockets open; stdout is a pipe, written synchronously.
process.exit(0);
