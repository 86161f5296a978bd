/**
 * WebSocket load over ONE connection: scoring messages `{ "id": n, ...body }` with up to
 * `--inflight` unanswered at a time (each answer `{ "id": n, … }` lets the next one go), for a
 * warm-up and then `--duration` seconds. Latency is from send to answer, so with a full window it
 * includes the time a message waits behind the others.
 *
 * Run (Node 20 has WebSocket behind a flag): node --experimental-websocket --import tsx
 *      bench/serving/ws-client.ts --url ws://127.0.0.1:P/ws --bodies bodies.jsonl [--duration 10]
 * Prints one JSON line: WsResult.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface WsResult {
  /** Answers in the measured window. */
  messages: number;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers without a score. */
  errors: number;
  cpuPercent: number;
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    bodies: { type: 'string' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    inflight: { type: 'string', default: '256' },
  },
});
if (values.url === undefined || values.bodies === undefined) throw new Error('usage: --url ws://… --bodies FILE [--duration S]');
const bodies = readFileSync(values.bodies, 'utf8').trim().split('\n');
const window = Number(values.inflight);

const socket = new WebSocket(values.url);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error(`cannot open ${values.url}`));
});

const sentAt = new Map<number, number>();
let nextId = 0;
let measuring = false;
let stopping = false;
const latencies: number[] = [];
let errors = 0;

function sendNext(): void {
  const id = nextId++;
  const body = bodies[id % bodies.length]!;
  sentAt.set(id, performance.now());
  socket.send(`{"id":${id},${body.slice(1)}`);
}

socket.onmessage = (event: MessageEvent) => {
  const answer = JSON.parse(String(event.data)) as { id?: number; score?: unknown };
  const sent = sentAt.get(answer.id ?? -1);
  if (sent === undefined) throw new Error(`answer with an unknown id: ${String(event.data).slice(0, 200)}`);
  sentAt.delete(answer.id!);
  if (measuring) {
    latencies.push(performance.now() - sent);
    if (typeof answer.score !== 'number') errors++;
  }
  if (!stopping) sendNext();
};
socket.onclose = () => {
  if (!stopping) {
    console.error('ws-client: the server closed the connection');
    process.exit(1);
  }
};

for (let i = 0; i < window; i++) sendNext();
await new Promise((r) => setTimeout(r, Number(values.warmup) * 1000));
measuring = true;
const cpuBefore = process.cpuUsage();
const started = performance.now();
await new Promise((r) => setTimeout(r, Number(values.duration) * 1000));
measuring = false;
stopping = true;
const elapsed = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? Number.NaN;
const result: WsResult = {
  messages: latencies.length,
  messagesPerSecond: latencies.length / (elapsed / 1000),
  p50Ms: pct(50),
  p99Ms: pct(99),
  errors,
  cpuPercent: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
};
console.log(JSON.stringify(result));
socket.close();
process.exit(0);
