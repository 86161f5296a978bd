/**
 * Soak: steady load for a while on a live pipeline and a server, as production sees them, to find
 * leaks and errors that short benches miss. `rtml run --follow` (a keyed hopping-window topology
 * with checkpoints, over the embedded log) takes a steady stream of appended events; `rtml serve`
 * (a registry model) answers a steady rate of /predict requests. Every few seconds the processes'
 * RSS (from /proc) and V8 heap in use (their Prometheus `nodejs_heap_size_used_bytes`) are sampled;
 * after a warm-up, the slope of each is fitted by least squares. Errors: non-2xx answers, failed
 * requests, and whether the run kept up (events processed = appended). Prints one line.
 *
 * Run: node --import tsx bench/soak.ts [--minutes 10] [--events-per-second 2000] [--requests-per-second 500]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventLog } from '../connectors/log/eventLog.ts';
import { gbdtToOnnx } from '../models/onnx/index.ts';
import { trainGbdt, xorData } from '../models/training/index.ts';
import { ROOT, RTML } from './support.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'events-per-second': { type: 'string', default: '2000' }, 'requests-per-second': { type: 'string', default: '500' } } });
const seconds = Number(values.minutes) * 60;
const eventRate = Number(values['events-per-second']);
const requestRate = Number(values['requests-per-second']);
const dir = mkdtempSync(join(tmpdir(), 'rtml-soak-'));
const children: ChildProcess[] = [];
const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
process.once('SIGINT', () => (stopAll(), process.exit(130)));

function start(args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--max-semi-space-size=64', RTML, ...args], { cwd: ROOT });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  children.push(child);
  return { child, stderr: () => stderr };
}

async function until(what: string, ok: () => boolean, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`soak: no ${what}:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A model, registered in a scratch registry before the server holds it.
const features = ['amount', 'velocity', 'distance'];
const model = trainGbdt(xorData({ rows: 2000, features: 3, seed: 3 }), { trees: 50, depth: 4 });
writeFileSync(join(dir, 'model.onnx'), gbdtToOnnx({ ...model, features }, { label: 'y' }));
const registry = `pglite:${join(dir, 'registry')}`;
await new Promise<void>((resolve, reject) => {
  const register = spawn(process.execPath, [RTML, 'models', 'register', 'soak', join(dir, 'model.onnx'), '--stage', 'production', '--registry', registry, '--artifacts', join(dir, 'models')], { cwd: ROOT, stdio: 'ignore' });
  register.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`register exited ${code}`))));
});

const topic = join(dir, 'events');
EventLog.open(topic, { create: { partitions: 4 } }).close();
writeFileSync(
  join(dir, 'topo.ts'),
  `import { aggregate, avg, count, defineTopology, distinct, hopping, keyBy, window } from 'rtml';
export default defineTopology('soak', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '2s' }).pipe(keyBy('card_id'), window(hopping('60s', '10s'), { late: 'late' }), aggregate({ n: count(), mean: avg('amount'), uniq: distinct('merchant_id') }), sink('out')));
`,
);
const run = start(['run', join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', 'out=null:', '--sink', 'late=null:', '--follow', '--checkpoint-dir', join(dir, 'checkpoints'), '--metrics-port', '0', '--no-progress']);
await until('metrics address from rtml run', () => /metrics on (http:\S+)\/metrics/.test(run.stderr()), run.stderr);
const runMetrics = /metrics on (http:\S+)\/metrics/.exec(run.stderr())![1]!;
const serve = start(['serve', '--port', '0', '--online', 'memory:', '--registry', registry, '--artifacts', join(dir, 'models')]);
await until('server', () => /serving on (http:\S+) /.test(serve.stderr()), serve.stderr);
const serveUrl = /serving on (http:\S+) /.exec(serve.stderr())![1]!;

let appended = 0;
let answered = 0;
let errors = 0;
let cardSeed = 1;
const rand = () => ((cardSeed = (Math.imul(cardSeed, 1103515245) + 12345) >>> 0) / 4294967296);
const t0 = Date.now();
const log = EventLog.open(topic);
const appender = setInterval(() => {
  // Events due by now at the steady rate, appended in one go (event time = wall time).
  const due = Math.floor(((Date.now() - t0) / 1000) * eventRate) - appended;
  for (let i = 0; i < due; i++) {
    const card = `c${Math.floor(rand() * 5000)}`;
    log.append(card, Date.now(), 0, Buffer.from(JSON.stringify({ card_id: card, merchant_id: `m${Math.floor(rand() * 300)}`, amount: Math.round(rand() * 50000) / 100, ts: Date.now() })));
  }
  appended += Math.max(0, due);
}, 20);
let sent = 0;
const requester = setInterval(() => {
  const due = Math.floor(((Date.now() - t0) / 1000) * requestRate) - sent;
  for (let i = 0; i < due; i++) {
    sent++;
    fetch(`${serveUrl}/predict`, { method: 'POST', body: JSON.stringify({ model_name: 'soak', features: { amount: rand(), velocity: rand(), distance: rand() } }) })
      .then(async (r) => {
        await r.arrayBuffer();
        if (r.ok) answered++;
        else errors++;
      })
      .catch(() => errors++);
  }
}, 10);

interface Sample {
  at: number;
  rss: [number, number];
  heap: [number, number];
}
const samples: Sample[] = [];
const rssOf = (child: ChildProcess) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024;
const heapOf = async (url: string) => Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? Number.NaN);
while (Date.now() - t0 < seconds * 1000) {
  await new Promise((r) => setTimeout(r, 5000));
  samples.push({ at: (Date.now() - t0) / 1000, rss: [rssOf(run.child), rssOf(serve.child)], heap: [await heapOf(runMetrics), await heapOf(serveUrl)] });
}
clearInterval(appender);
clearInterval(requester);
log.close();
await new Promise((r) => setTimeout(r, 3000));
const processed = Number(/^rtml_events_in_total\{topology="soak"\} (\S+)/m.exec(await (await fetch(`${runMetrics}/metrics`)).text())?.[1] ?? 0);
stopAll();
await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : undefined)));
rmSync(dir, { recursive: true, force: true });

/** Least-squares slope in MB per minute, of the samples after the first fifth (warm-up). */
function slope(pick: (s: Sample) => number): string {
  const xs = samples.slice(Math.floor(samples.length / 5));
  const n = xs.length;
  const mx = xs.reduce((a, s) => a + s.at, 0) / n;
  const my = xs.reduce((a, s) => a + pick(s), 0) / n;
  const b = xs.reduce((a, s) => a + (s.at - mx) * (pick(s) - my), 0) / xs.reduce((a, s) => a + (s.at - mx) ** 2, 0);
  return `${((b * 60) / 2 ** 20).toFixed(2)} MB/min`;
}
const mb = (x: number) => `${Math.round(x / 2 ** 20)} MB`;
const last = samples.at(-1)!;
console.log(
  `soak ${values.minutes} min: run ${eventRate}/s events (${appended.toLocaleString('en-US')} appended, ${processed.toLocaleString('en-US')} processed), ` +
    `serve ${requestRate}/s /predict (${answered.toLocaleString('en-US')} answered, ${errors} errors); ` +
    `RSS run ${mb(last.rss[0])} slope ${slope((s) => s.rss[0])}, serve ${mb(last.rss[1])} slope ${slope((s) => s.rss[1])}; ` +
    `heap used run ${mb(last.heap[0])} slope ${slope((s) => s.heap[0])}, serve ${mb(last.heap[1])} slope ${slope((s) => s.heap[1])}`,
);
