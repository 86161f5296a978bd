import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse } from 'yaml';
import { rtml, ROOT } from './support/cli.ts';
import { cleanPostgres, freePort, POSTGRES_URI, tempDir, uniqueView } from './support/features.ts';
import { prng } from './support/generate.ts';
import { appendLines, startLive } from './support/liveRun.ts';
import { startPrometheus, type PromSample } from './support/prometheus.ts';
import { cleanModels, uniqueModel } from './support/registry.ts';

/**
 * monitoring/grafana: the provisioning files and dashboards are well-formed Grafana JSON on the
 * provisioned datasource, and every panel query returns data from a REAL Prometheus scraping a
 * live `rtml run --follow` (score, monitor, monitorAccuracy, a feature view, checkpoints) and a
 * live `rtml serve` answering /predict, while events and requests keep coming.
 */

const GRAFANA = join(ROOT, 'monitoring', 'grafana');
const FEATURES = ['amount', 'velocity', 'distance'];

interface Target {
  refId: string;
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition: string; allValue: string }[] };
}

const dashboards = (): [string, Dashboard][] =>
  readdirSync(join(GRAFANA, 'dashboards'))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(GRAFANA, 'dashboards', f), 'utf8')) as Dashboard]);

/** A panel query as Grafana sends it: variables at their "All" value, $__rate_interval for 1 s scrapes. */
function expand(expr: string, variables: Dashboard['templating']['list']): string {
  let out = expr.replaceAll('$__rate_interval', '10s');
  for (const v of variables) out = out.replaceAll(`$${v.name}`, v.allValue);
  assert.doesNotMatch(out, /\$/, `a variable no dashboard defines in ${expr}`);
  return out;
}

describe('Grafana dashboards', () => {
  it('provisioning and dashboard JSON: the datasource uid every panel uses, schemaVersion, unique ids, panels with queries', () => {
    const datasources = parse(readFileSync(join(GRAFANA, 'provisioning', 'datasources', 'rtml.yml'), 'utf8')) as { apiVersion: number; datasources: { uid: string; type: string }[] };
    assert.equal(datasources.apiVersion, 1);
    const [source] = datasources.datasources;
    assert.equal(source?.type, 'prometheus');
    const providers = parse(readFileSync(join(GRAFANA, 'provisioning', 'dashboards', 'rtml.yml'), 'utf8')) as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    assert.equal(providers.apiVersion, 1);
    assert.equal(providers.providers[0]?.type, 'file');
    assert.ok(providers.providers[0]?.options.path);

    const found = dashboards();
    assert.deepEqual(found.map(([f]) => f), ['models.json', 'pipeline.json', 'serving.json']);
    assert.equal(new Set(found.map(([, d]) => d.uid)).size, found.length, 'dashboard uids are unique');
    for (const [file, d] of found) {
      assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `${file}: schemaVersion ${d.schemaVersion}`);
      assert.ok(d.title && d.panels.length > 0, file);
      assert.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length, `${file}: panel ids are unique`);
      for (const p of d.panels) {
        assert.ok(p.title && p.type && p.gridPos.w > 0 && p.gridPos.h > 0, `${file}: panel ${p.id}`);
        assert.deepEqual(p.datasource, { type: 'prometheus', uid: source.uid }, `${file}: ${p.title}`);
        assert.ok(p.targets.length > 0, `${file}: ${p.title} has queries`);
        assert.equal(new Set(p.targets.map((q) => q.refId)).size, p.targets.length, `${file}: ${p.title} refIds`);
        for (const q of p.targets) {
          assert.ok(q.expr.includes('rtml_'), `${file}: ${p.title}: ${q.expr}`);
          assert.deepEqual(q.datasource, p.datasource);
        }
      }
      for (const v of d.templating.list) assert.match(v.definition, /^label_values\(.+, \w+\)$/, `${file}: variable ${v.name}`);
    }
  });

  it('every panel query returns data from a real Prometheus scraping a live rtml run and rtml serve', { timeout: 90_000 }, async (t) => {
    const files = tempDir('grafana');
    t.after(() => files.remove());
    const model = uniqueModel('grafana');
    const view = uniqueView('grafana');
    cleanModels(t, model);
    cleanPostgres(t, view);
    const artifacts = join(files.dir, 'artifacts');
    const rand = prng(15);
    const payment = (ts: number) => {
      const amount = Math.exp(3 + 2 * rand());
      const velocity = 10 * rand();
      const risky = amount > 60 && velocity > 5;
      return { card_id: `c${Math.floor(rand() * 20)}`, ts, amount, velocity, distance: 50 * rand(), is_fraud: rand() < (risky ? 0.8 : 0.05) ? 1 : 0 };
    };

    // A model with its training profile (rtml train), registered in production.
    const training = Array.from({ length: 1000 }, () => payment(0));
    writeFileSync(join(files.dir, 'train.csv'), ['is_fraud,amount,velocity,distance', ...training.map((r) => `${r.is_fraud},${r.amount},${r.velocity},${r.distance}`)].join('\n') + '\n');
    const trained = await rtml(['train', '--data', join(files.dir, 'train.csv'), '--label', 'is_fraud', '--features', FEATURES.join(','), '--out', join(files.dir, 'model.onnx'), '--trees', '10', '--depth', '3']);
    assert.equal(trained.code, 0, trained.stderr);
    const registered = await rtml(['models', 'register', model, join(files.dir, 'model.onnx'), '--stage', 'production', '--registry', POSTGRES_URI, '--artifacts', artifacts]);
    assert.equal(registered.code, 0, registered.stderr);

    // The run: features materialised, payments scored, drift and online accuracy per 10 s window.
    writeFileSync(
      join(files.dir, 'topology.ts'),
      `import { aggregate, count, defineTopology, featureView, keyBy, materialize, monitor, monitorAccuracy, score, sum, tumbling, window } from 'rtml';
const spend = featureView({ name: '${view}', features: ['n', 'total'] });
export default defineTopology('observed', ({ source, sink }) => {
  const payments = source('payments', { time: 'ts', outOfOrder: '1s' }).pipe(keyBy('card_id'));
  const scored = payments.pipe(score('registry:${model}', { features: ${JSON.stringify(FEATURES)} }));
  return [
    payments.pipe(window(tumbling('1s')), aggregate({ n: count(), total: sum('amount') }), materialize(spend), sink('features')),
    scored.pipe(monitor('registry:${model}', { window: tumbling('10s') }), sink('drift')),
    scored.pipe(monitorAccuracy('${model}', { window: tumbling('10s'), label: 'is_fraud' }), sink('accuracy')),
  ];
});
`,
    );
    const topic = join(files.dir, 'payments');
    let ts = Date.now() - 120_000;
    const feed = (n: number) => appendLines(topic, Array.from({ length: n }, () => JSON.stringify(payment((ts += 100)))));
    feed(600);
    appendLines(topic, ['not json']);
    const run = await startLive(t, [
      'run', join(files.dir, 'topology.ts'), '--source', `payments=log:${topic}`,
      '--sink', 'features=null:', '--sink', 'drift=null:', '--sink', 'accuracy=null:', '--sink', 'dlq=null:',
      '--registry', POSTGRES_URI, '--artifacts', artifacts, '--online', 'memory:', '--offline', POSTGRES_URI,
      '--checkpoint-dir', join(files.dir, 'checkpoints'), '--checkpoint-interval', '1s',
      '--follow', '--metrics-port', '0', '--no-progress',
    ]);
    const serve = await startServe(t, ['--registry', POSTGRES_URI, '--artifacts', artifacts, '--online', 'memory:', '--model', model]);

    const prometheus = await startPrometheus(t, {
      jobs: { 'rtml-run': [new URL(run.url).host], 'rtml-serve': [new URL(serve.url).host] },
      ruleFiles: [join(ROOT, 'monitoring', 'alerts.yml')],
    });

    // Every query of every panel, and every variable's values, until each has data (a finite value).
    const checks: { what: string; run: () => Promise<string | undefined> }[] = [];
    for (const [file, d] of dashboards()) {
      for (const v of d.templating.list) {
        const [, selector, label] = /^label_values\((.+), (\w+)\)$/.exec(v.definition)!;
        checks.push({ what: `${file} variable ${v.name}`, run: async () => ((await prometheus.labelValues(label!, selector!)).length > 0 ? undefined : 'no values') });
      }
      for (const p of d.panels) {
        for (const q of p.targets) {
          const expr = expand(q.expr, d.templating.list);
          checks.push({ what: `${file} "${p.title}" ${q.refId}: ${expr}`, run: async () => verdict(await prometheus.query(expr)) });
        }
      }
    }

    // Traffic while the queries are checked: payments (event time moving 4× faster than the clock,
    // so windows close), predictions one by one and in batches, and a request missing features (400).
    const features = () => {
      const p = payment(0);
      return { amount: p.amount, velocity: p.velocity, distance: p.distance };
    };
    let traffic: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      feed(20);
      traffic = Promise.all([
        traffic,
        post(`${serve.url}/predict`, { model_name: model, features: features() }),
        post(`${serve.url}/predict/batch`, { model_name: model, instances: Array.from({ length: 8 }, () => ({ features: features() })) }),
        post(`${serve.url}/predict`, { model_name: model, features: { amount: 1 } }),
      ]);
    }, 500);
    let failing: string[] = [];
    const until = Date.now() + 45_000;
    try {
      do {
        await new Promise((r) => setTimeout(r, 1000));
        failing = [];
        for (const check of checks) {
          const wrong = await check.run();
          if (wrong !== undefined) failing.push(`${check.what} → ${wrong}`);
        }
      } while (failing.length > 0 && Date.now() < until);
    } finally {
      clearInterval(timer);
      await traffic;
    }
    assert.deepEqual(failing, [], `panel queries without data; rtml run stderr:\n${run.stderr()}\nrtml serve stderr:\n${serve.stderr()}`);

    // Prometheus loaded alerts.yml and scraped both targets.
    const up = await prometheus.query('up');
    assert.deepEqual(up.map((s) => [s.metric.job, s.value[1]]).sort(), [['rtml-run', '1'], ['rtml-serve', '1']]);
    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    assert.ok(loaded.length >= 12 && loaded.every((r) => r.health === 'ok'), JSON.stringify(rules.data));

    // Prometheus first: rtml serve exits only once its clients' connections are closed, and
    // Prometheus keeps its scrape connection open for as long as it runs.
    await prometheus.stop();
    assert.equal(await run.stop(), 0, run.stderr());
    assert.equal(await serve.stop(), 0, serve.stderr());
  });
});

/** undefined when a query has data: at least one series with a finite value. */
function verdict(samples: PromSample[]): string | undefined {
  if (samples.length === 0) return 'empty result';
  return samples.some((s) => Number.isFinite(Number(s.value[1]))) ? undefined : `only ${samples.map((s) => s.value[1]).join(', ')}`;
}

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** `rtml serve --port <free> <args>`, killed after the test; waits until it serves. */
async function startServe(t: TestContext, args: string[]): Promise<{ url: string; stderr(): string; stop(): Promise<number | null> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'rtml.mjs'), 'serve', '--port', String(port), ...args], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  // SIGKILL: a test that failed may leave Prometheus connected, which holds a SIGTERM'd server open.
  t.after(() => (child.kill('SIGKILL'), exit));
  for (const until = Date.now() + 30_000; !stderr.includes('serving on'); await new Promise((r) => setTimeout(r, 50))) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`rtml serve did not start; stderr:\n${stderr}`);
  }
  return { url: `http://127.0.0.1:${port}`, stderr: () => stderr, stop: () => (child.kill('SIGTERM'), exit) };
}
