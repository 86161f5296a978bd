/**
 * Serving: `rtml serve` against the scoring servers people write by hand — minimal uWebSockets.js,
 * Fastify (both onnxruntime-node + ioredis, one model call per request), FastAPI on uvicorn with 1
 * and 2 workers (scikit-learn + redis-py) — one at a time, same model (a 100-tree depth-6
 * GradientBoostingClassifier, ONNX for the Node servers), same Redis rows, same requests: POST
 * /predict with 8 features in the body and 8 read from Redis per request. Load comes from other
 * processes on loopback: wrk for saturation, an open-loop generator for latency at fixed rates;
 * for rtml also /predict/batch and one WebSocket connection. Prints one line per figure.
 *
 * Run: node --import tsx bench/serve.ts [--only rtml,floor,minimal,fastify,fastapi] [--duration 10]
 *      [--rates 3000,10000] [--rtml-bin bin/rtml.mjs] [--rtml-node-flags '--max-semi-space-size=64']
 * Needs wrk, Redis, Postgres (rtml's registry), and python3.11 with scikit-learn, onnx, fastapi,
 * uvicorn, uvloop, httptools, redis.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { RTML, SERVE_NODE_FLAGS } from './support.ts';
import { summariseGc } from './serving/gcTrace.ts';
import { checkModel, expectedScores, SCORE_TOLERANCE } from './serving/check-model.ts';
import { benchModel, type ModelFiles } from './serving/model.ts';
import type { OpenLoopResult } from './serving/open-loop.ts';
import { groupCpuSeconds, groupMemory, lastLine, onInterrupt, run, start, type Proc } from './serving/procs.ts';
import { fixedCell, ms, reportLines, type Measured, type Outcome } from './serving/report.ts';
import { deleteModel, registerModel, rtmlModel, serveCommand, type RtmlModel } from './serving/rtml.ts';
import { wrk, type WrkResult } from './serving/wrk.ts';
import type { WsResult } from './serving/ws-client.ts';
import { ENTITIES, requestBodies, seedStore, storeKey, writeLines, type PredictBody } from './serving/workload.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'rtml,floor,minimal,fastify,fastapi' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rates: { type: 'string', default: '3000,10000' },
    connections: { type: 'string', default: '64' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    registry: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    python: { type: 'string', default: '/usr/bin/python3.11' },
    'rtml-bin': { type: 'string', default: RTML },
    /** Node's flags for rtml serve (default: bin/rtml.mjs's choice for serve), to compare GC settings. */
    'rtml-node-flags': { type: 'string', default: SERVE_NODE_FLAGS.join(' ') },
  },
});
const SECONDS = Number(values.duration);
const WARMUP = Number(values.warmup);
const RATES = values.rates.split(',').map(Number);
const CONNECTIONS = Number(values.connections);
const BATCH = 64;
const WS_INFLIGHT = 256;
const script = (name: string) => fileURLToPath(new URL(`serving/${name}`, import.meta.url));
const RTML_NODE_FLAGS = values['rtml-node-flags'].split(/\s+/).filter((f) => f !== '');
/** Node servers write V8's collections on stdout; each fixed-rate run's stretch is summarised. */
const TRACE_GC = '--trace-gc-nvp';

interface Server {
  key: string;
  label: string;
  command(port: number): [string, string[]];
  /** Polled with GET until it answers 200, before the first /predict (rtml's models load after it listens). */
  readyPath?: string;
  /** The machine's floor (a constant answer): its scores are not checked, nor compared with rtml's throughput. */
  floor?: boolean;
}

function servers(model: ModelFiles, rtml: RtmlModel): Server[] {
  const node = (file: string) => (port: number): [string, string[]] =>
    [process.execPath, [...SERVE_NODE_FLAGS, TRACE_GC, '--import', 'tsx', script(file), '--port', String(port), '--model', model.onnx, '--redis', values.redis]];
  const fastapi = (workers: number) => (port: number): [string, string[]] =>
    [values.python, [script('fastapi_server.py'), '--port', String(port), '--model', model.pickle, '--workers', String(workers), '--redis', values.redis]];
  return [
    { key: 'rtml', label: 'rtml', command: (port) => [process.execPath, [...RTML_NODE_FLAGS, TRACE_GC, ...serveCommand(values['rtml-bin'], rtml, port, values.redis)]], readyPath: '/ready' },
    { key: 'floor', label: 'floor (uWS, constant answer)', command: node('floor-uws.ts'), floor: true },
    { key: 'minimal', label: 'minimal uWS', command: node('minimal-uws.ts') },
    { key: 'fastify', label: 'Fastify', command: node('fastify.ts') },
    { key: 'fastapi1', label: 'FastAPI 1w', command: fastapi(1) },
    { key: 'fastapi2', label: 'FastAPI 2w', command: fastapi(2) },
  ];
}

/** `--only`: server keys; `fastapi` means both worker counts. Checked before the model is trained. */
const KEYS = ['rtml', 'floor', 'minimal', 'fastify', 'fastapi1', 'fastapi2'];
const ONLY = new Set(values.only.split(',').flatMap((k) => (k.trim() === 'fastapi' ? ['fastapi1', 'fastapi2'] : [k.trim()])));
const unknown = [...ONLY].filter((k) => !KEYS.includes(k));
if (unknown.length > 0) throw new Error(`--only: unknown server(s) ${unknown.join(', ')}; known: ${KEYS.join(', ')}, fastapi`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  return { status: res.status, text: await res.text() };
}

/** Raised while a server is starting: for rtml this means `rtml serve` is not available (yet). */
class NotStarted extends Error {}

/** Waits for the server to answer 200 on its ready path (if any), then on /predict. */
async function waitReady(server: Server, proc: Proc, base: string, body: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  let exited: number | string | undefined;
  void proc.exited.then((code) => (exited = code));
  const probes = [server.readyPath, '/predict'].filter((p) => p !== undefined);
  for (const probe of probes) {
    // A server that answered its ready probe has started: what goes wrong after that is a failure.
    const Failure = probe === probes[0] ? NotStarted : Error;
    let last = 'no answer';
    for (;;) {
      if (exited !== undefined) throw new Failure(`exited with ${exited}: ${lastLine(proc.stderr()) || lastLine(proc.stdout())}`);
      if (performance.now() > deadline) throw new Failure(`${probe} not ready after 60 s (${last})`);
      try {
        const res = probe === '/predict' ? await post(base + probe, body) : await fetch(base + probe).then(async (r) => ({ status: r.status, text: await r.text() }));
        if (res.status === 200) break;
        last = `${res.status} ${res.text.slice(0, 120)}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(200);
    }
  }
}

/** The server's scores for the first bodies must be the model's (the same model, the same Redis rows for every server). */
async function verify(base: string, bodies: readonly PredictBody[], expected: Float32Array): Promise<void> {
  for (let i = 0; i < expected.length; i++) {
    const res = await post(`${base}/predict`, JSON.stringify(bodies[i]));
    let answer: { score?: unknown; label?: unknown } = {};
    try {
      answer = JSON.parse(res.text) as typeof answer;
    } catch {
      // not JSON: reported below with the answer's text
    }
    const want = expected[i]!;
    if (res.status !== 200 || typeof answer.score !== 'number' || Math.abs(answer.score - want) > SCORE_TOLERANCE || answer.label !== (want >= 0.5 ? 1 : 0)) {
      throw new Error(`wrong answer for body ${i}: ${res.status} ${res.text.slice(0, 120)} (expected score ${want})`);
    }
  }
}

async function openLoop(url: string, rate: number, bodiesFile: string): Promise<OpenLoopResult> {
  const args = ['--import', 'tsx', script('open-loop.ts'), '--url', url, '--rate', String(rate), '--duration', String(SECONDS), '--bodies', bodiesFile, '--connections', String(CONNECTIONS)];
  return JSON.parse(lastLine(await run(process.execPath, args, (SECONDS + 60) * 1000))) as OpenLoopResult;
}

async function webSocket(url: string, bodiesFile: string): Promise<WsResult> {
  const args = ['--experimental-websocket', '--import', 'tsx', script('ws-client.ts'), '--url', url, '--bodies', bodiesFile, '--duration', String(SECONDS), '--inflight', String(WS_INFLIGHT)];
  return JSON.parse(lastLine(await run(process.execPath, args, (SECONDS + 60) * 1000))) as WsResult;
}

interface Files {
  bodies: string;
  batches: string;
}

/** Starts one server, checks its answers, loads it, stops it. */
async function measure(server: Server, files: Files, bodies: readonly PredictBody[], expected: Float32Array): Promise<Outcome> {
  const outcome: Outcome = { label: server.label, isRtml: server.key === 'rtml', floor: server.floor };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const [command, args] = server.command(port);
  const proc = start(command, args);
  const began = performance.now();
  const say = (what: string) => console.error(`· ${server.label} (${((performance.now() - began) / 1000).toFixed(0)} s): ${what}`);
  try {
    await waitReady(server, proc, base, JSON.stringify(bodies[0]));
    if (!server.floor) await verify(base, bodies, expected);
    await wrk(`${base}/predict`, files.bodies, WARMUP, CONNECTIONS);
    const cpuBefore = groupCpuSeconds(proc.pid);
    const started = performance.now();
    const saturation = await wrk(`${base}/predict`, files.bodies, SECONDS, CONNECTIONS);
    const cpuPercent = ((groupCpuSeconds(proc.pid) - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
    const memory = groupMemory(proc.pid);
    say(`saturation ${Math.round(saturation.rps)} RPS p99 ${ms(saturation.p99Ms)}, ${Math.round(memory.rssMb)} MB`);
    const result: Measured = { saturation: { ...saturation, cpuPercent }, memory, fixed: [] };
    for (const rate of RATES) {
      const traced = proc.stdout().length;
      result.fixed.push(await openLoop(`${base}/predict`, rate, files.bodies));
      (result.fixedGc ??= []).push(summariseGc(proc.stdout().slice(traced)));
      say(`at ${rate} RPS: ${fixedCell(result.fixed.at(-1)!)}`);
    }
    if (outcome.isRtml) {
      result.batch = await batch(base, files.batches).catch((err: unknown) => String(err));
      result.ws = await webSocket(`ws://127.0.0.1:${port}/ws`, files.bodies).catch((err: unknown) => String(err));
    }
    outcome.result = result;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    outcome.missing = err instanceof NotStarted && outcome.isRtml ? `skipped (serve not available: ${why})` : `failed (${why})`;
    say(outcome.missing);
  } finally {
    await proc.stop();
  }
  return outcome;
}

/** /predict/batch: one answer checked, then warm-up and saturation with wrk. */
async function batch(base: string, batchesFile: string): Promise<WrkResult> {
  const url = `${base}/predict/batch`;
  const first = await post(url, readFileSync(batchesFile, 'utf8').split('\n')[0]!);
  if (first.status !== 200) throw new Error(`${first.status} ${first.text.slice(0, 120)}`);
  await wrk(url, batchesFile, WARMUP, CONNECTIONS);
  return wrk(url, batchesFile, SECONDS, CONNECTIONS);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'rtml-bench-serve-'));
  const rtml = rtmlModel(values.registry);
  let registered = false;
  const cleanup = async () => {
    if (registered) await deleteModel(rtml);
    registered = false;
    const redis = new Redis(values.redis);
    for (let i = 0; i < ENTITIES; i += 1000) await redis.del(...Array.from({ length: 1000 }, (_, j) => storeKey(`c${i + j}`)));
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
    rmSync(rtml.artifacts, { recursive: true, force: true });
  };
  onInterrupt(cleanup);
  try {
    const model = await benchModel(values.python);
    const chosen = servers(model, rtml).filter((s) => ONLY.has(s.key));
    const difference = await checkModel(model);
    console.log(`serve model: scikit-learn GradientBoostingClassifier, 100 trees depth 6, 16 features (8 in the request, 8 from Redis); ONNX Runtime = predict_proba within ${difference.toExponential(1)} on 1000 rows`);

    await seedStore(values.redis);
    const bodies = requestBodies(1000, rtml.name);
    const instances = requestBodies(100 * BATCH, rtml.name, 12).map(({ features, entity }) => ({ features, entity }));
    const files = { bodies: join(work, 'bodies.jsonl'), batches: join(work, 'batches.jsonl') };
    writeLines(files.bodies, bodies);
    writeLines(files.batches, Array.from({ length: 100 }, (_, i) => ({ model_name: rtml.name, instances: instances.slice(i * BATCH, (i + 1) * BATCH) })));
    const expected = await expectedScores(model, bodies.slice(0, 20));

    const outcomes: Outcome[] = [];
    for (const server of chosen) {
      if (server.key === 'rtml') {
        try {
          registered = true; // a failed registration may still have written rows
          await registerModel(values['rtml-bin'], rtml, model.onnx);
        } catch (err) {
          outcomes.push({ label: 'rtml', isRtml: true, missing: `failed (cannot register the model: ${err instanceof Error ? err.message : String(err)})` });
          continue;
        }
      }
      outcomes.push(await measure(server, files, bodies, expected));
    }
    for (const line of reportLines(outcomes, { seconds: SECONDS, connections: CONNECTIONS, rates: RATES, batchSize: BATCH, wsInflight: WS_INFLIGHT })) console.log(line);
  } finally {
    await cleanup();
  }
}

await main();
