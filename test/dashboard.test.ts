import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { openRegistry } from '../models/registry/index.ts';
import { createApiKey } from '../serving/apiKeys.ts';
import { PredictionFeed, SAMPLES_PER_SECOND } from '../serving/dashboard/feed.ts';
import { launchChromium, openPage, pixelsOfColors, type OpenedPage } from './support/browser.ts';
import { POSTGRES_URI } from './support/features.ts';
import { appendLines, startLive } from './support/liveRun.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';
import { get, post, testServer } from './support/serve.ts';

/**
 * The live dashboard, in a real headless Chromium (Debian's, driven by playwright-core): the page
 * of a real `rtml serve` taking /predict requests, and of a live `rtml run --metrics-port` that
 * scores and monitors, loads without a console error, draws its charts (pixels in the series'
 * colours on each canvas), lists predictions arriving over the WebSocket and shows the versions,
 * the traffic split and the drift per feature. Screenshots go to $RTML_SCREENSHOT_DIR when set.
 */

/** The series' colours on every chart (serving/dashboard/dashboard.js): series may coincide, the last drawn on top. */
const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c'];
const ASSET_404 = /^no dashboard file 'nope\.js' \(files: dashboard\.js, uPlot\.iife\.min\.js, uPlot\.min\.css\)$/;

function scratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A steady load while the page is watched: `every` calls `tick` every `ms` until the test ends.
 * Make it first in a test: its stop then runs before the other clean-ups (which run in order), so
 * no tick writes into a folder already removed or calls a server already closed.
 */
function steadyLoad(t: TestContext): { every(ms: number, tick: () => unknown): void } {
  let timer: NodeJS.Timeout | undefined;
  t.after(() => clearInterval(timer));
  return { every: (ms, tick) => void (timer = setInterval(tick, ms)) };
}

/** Chart points a panel has drawn (its first series), as an expression in the page. */
const points = (panel: string) => `Number(document.getElementById('${panel}').dataset.points ?? 0)`;
/** Predictions the page received over the WebSocket. */
const received = `Number(document.getElementById('predictions').dataset.received ?? 0)`;
/** Rows of a panel's table. */
const rowCount = (panel: string) => `document.querySelectorAll('#${panel} tbody tr').length`;

/**
 * Waits until the page-side expression `condition` holds (a string: functions written here are
 * compiled by tsx with helpers the page does not have), then returns the panels' text.
 */
async function waitForPanels(viewer: OpenedPage, condition: string): Promise<Record<string, string>> {
  await viewer.page.waitForFunction(condition, null, { timeout: 30_000, polling: 200 });
  return viewer.page.evaluate(() => Object.fromEntries([...document.querySelectorAll('section.panel')].map((s) => [s.id, (s as HTMLElement).innerText])));
}

/** Table rows of a panel as arrays of cell texts. */
function rowsOf(viewer: OpenedPage, panel: string): Promise<string[][]> {
  return viewer.page.evaluate((id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.children].map((td) => (td as HTMLElement).innerText)), panel);
}

async function screenshot(viewer: OpenedPage, t: TestContext, name: string): Promise<void> {
  const dir = process.env.RTML_SCREENSHOT_DIR ?? scratch(t, 'rtml-dashboard-shot-');
  mkdirSync(dir, { recursive: true });
  const png = await viewer.page.screenshot({ path: join(dir, name), fullPage: true });
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
  t.diagnostic(`screenshot: ${join(dir, name)}`);
}

/** Opens a WebSocket; resolves once open, or with the HTTP status that refused the upgrade. */
function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

/** A feed client that sends a message is closed with 1003 and the reason. */
async function refusesMessages(ws: WebSocket): Promise<void> {
  const closed = once(ws, 'close');
  ws.send('{"subscribe": "everything"}');
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 1003);
  assert.equal(String(reason), 'this WebSocket only sends predictions: it takes no messages');
}

describe('the predictions feed', () => {
  it('takes samples only while someone watches, at most SAMPLES_PER_SECOND, and counts what a backed-up viewer misses', async () => {
    const registry = new Registry();
    let now = 0;
    const feed = new PredictionFeed(registry, () => now, () => 0);
    assert.equal(feed.wants(), false, 'nobody watches: no sample is built');
    const received: string[] = [];
    let backedUp = false;
    const unsubscribe = feed.subscribe((text) => (backedUp ? false : (received.push(text), true)));
    const sample = { model: 'm', version: 'v1', key: 'c1', score: 0.25, label: 0 as const, time: 1 };
    /** Publishes while the feed wants samples (the clock stands still meanwhile). */
    const offer = () => {
      let n = 0;
      for (; feed.wants(); n++) feed.publish(sample);
      return n;
    };
    assert.equal(offer(), SAMPLES_PER_SECOND, 'a burst: the bucket');
    now += 500;
    assert.equal(offer(), SAMPLES_PER_SECOND / 2, 'half a second later: half a second of samples');
    assert.equal(received.length, SAMPLES_PER_SECOND * 1.5);
    assert.deepEqual(JSON.parse(received[0]!), sample);
    backedUp = true;
    now += 1000;
    assert.equal(offer(), SAMPLES_PER_SECOND);
    assert.equal(received.length, SAMPLES_PER_SECOND * 1.5, 'a backed-up viewer gets nothing more');
    assert.match(await registry.metrics(), new RegExp(`^rtml_dashboard_samples_dropped_total ${SAMPLES_PER_SECOND}$`, 'm'));
    unsubscribe();
    now += 1000;
    assert.equal(feed.wants(), false);
  });

  it('samples across the stream, not the first predictions of each batch', () => {
    let now = 0;
    let draw = 0;
    // Low-discrepancy "random" numbers: the counts below are exact, and as a uniform sample's would be.
    const feed = new PredictionFeed(new Registry(), () => now, () => (++draw * 0.6180339887) % 1);
    const keys: string[] = [];
    feed.subscribe((text) => keys.push(JSON.parse(text).key) > 0);
    const taken: number[] = [];
    // 400 predictions a second in batches of 20 (keys c0…c19 in order), for 3 seconds.
    for (let second = 0; second < 3; second++) {
      const before = keys.length;
      for (let batch = 0; batch < 20; batch++, now += 50) {
        for (let i = 0; i < 20; i++) if (feed.wants()) feed.publish({ model: 'm', version: 'v1', key: `c${i}`, score: 0.5, label: 1, time: now });
      }
      taken.push(keys.length - before);
    }
    assert.ok(taken[0]! > SAMPLES_PER_SECOND && taken[0]! <= 2 * SAMPLES_PER_SECOND, `the first second, before the rate is known: the full bucket and its refill (${taken[0]})`);
    for (const n of taken.slice(1)) assert.ok(n >= SAMPLES_PER_SECOND * 0.75 && n <= SAMPLES_PER_SECOND, `then about the rate: ${taken.join(', ')}`);
    const later = keys.slice(SAMPLES_PER_SECOND);
    assert.ok(new Set(later).size >= 10, `keys from all over the batches: ${later.join(' ')}`);
  });
});

describe('the live dashboard in Chromium', () => {
  it('rtml serve: throughput, latency, versions and traffic split, predictions over the WebSocket, behind API keys', async (t) => {
    const load = steadyLoad(t);
    const keys = join(scratch(t, 'rtml-dashboard-keys-'), 'keys.json');
    const predictKey = createApiKey(keys, { id: 'app', scopes: ['predict'] });
    const metricsKey = createApiKey(keys, { id: 'dashboard', scopes: ['metrics'] });
    const s = await testServer(t, { serve: { auth: { apiKeysFile: keys } } });
    await s.register(2);
    await s.registry.ab(s.model, [{ version: 1, percent: 70 }, { version: 2, percent: 30 }]);
    for (let i = 0; s.server.catalog.status().models[0]?.serving !== 'A/B v1:70% v2:30%'; i++) {
      assert.ok(i < 200, `the split never reached the server: ${JSON.stringify(s.server.catalog.status())}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    // Credentials: the page and its files are open, its data needs the metrics scope.
    assert.equal((await get(`${s.url}/dashboard`)).status, 200);
    assert.equal((await get(`${s.url}/dashboard/metrics.json`)).status, 401);
    assert.equal((await get(`${s.url}/dashboard/metrics.json`, { 'x-api-key': predictKey })).status, 403);
    const snapshot = await get(`${s.url}/dashboard/metrics.json`, { 'x-api-key': metricsKey });
    assert.equal(snapshot.status, 200);
    assert.deepEqual(JSON.parse(snapshot.text).models, [{ name: s.model, serving: 'A/B v1:70% v2:30%' }]);
    const missing = await get(`${s.url}/dashboard/assets/nope.js`);
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.text).error, ASSET_404);
    assert.match((await get(`${s.url}/dashboard/assets/%ZZ`)).text, /no dashboard file '%ZZ'/, 'a malformed escape is refused by name, the server goes on');
    assert.equal(await connect(`ws://127.0.0.1:${s.port}/dashboard/predictions`), 401);
    assert.equal(await connect(`ws://127.0.0.1:${s.port}/dashboard/predictions`, { 'x-api-key': predictKey }), 403);
    const feed = await connect(`ws://127.0.0.1:${s.port}/dashboard/predictions?api_key=${metricsKey}`);
    assert.ok(feed instanceof WebSocket);
    await refusesMessages(feed);

    // Traffic: cards c0…c19, so both versions of the split serve.
    let n = 0;
    const failures: string[] = [];
    load.every(20, () =>
      Promise.all(
        Array.from({ length: 4 }, () => {
          const i = n++;
          return post(`${s.url}/predict`, { model_name: s.model, features: { amount: i % 50, [`${s.view}__n`]: i % 7, [`${s.view}__total`]: i % 90 }, entity: { card_id: `c${i % 20}` } }, { 'x-api-key': predictKey }).then(
            (r) => r.status === 200 || failures.push(`${r.status} ${JSON.stringify(r.body)}`),
          );
        }),
      ).catch((err: unknown) => failures.push(String(err))),
    );

    const browser = await launchChromium(t);
    const viewer = await openPage(browser, `${s.url}/dashboard?api_key=${metricsKey}`);
    const panels = await waitForPanels(viewer, `${points('throughput')} >= 3 && ${points('latency')} >= 3 && ${received} >= 10 && ${rowCount('models')} >= 2`);
    assert.deepEqual(failures, []);
    assert.match(panels.throughput!, /requests\/s/);
    assert.match(panels.watermark!, /rtml serve has no watermark/);
    assert.match(panels.drift!, /rtml serve does not watch drift/);

    // Versions and split: configured 70/30, both scored.
    const models = await rowsOf(viewer, 'models');
    assert.deepEqual(models.map((r) => r.slice(0, 3)), [[s.model, 'v1', '70%'], [s.model, 'v2', '30%']]);
    for (const row of models) assert.ok(Number(row[3]) > 0, `${row[1]} scored nothing: ${row.join(' | ')}`);

    // Predictions, pushed over the WebSocket: this model, both versions, the requests' entities, scores in [0, 1].
    const predictions = await rowsOf(viewer, 'predictions');
    assert.ok(predictions.length >= 10);
    for (const [, model, version, key, score, label] of predictions) {
      assert.equal(model, s.model);
      assert.match(version!, /^v[12]$/);
      assert.match(key!, /^c\d+$/);
      assert.ok(Number(score) >= 0 && Number(score) <= 1, score);
      if (score !== '0.5000') assert.equal(label, Number(score) > 0.5 ? '1' : '0', 'label: score ≥ the threshold (0.5; the score shown rounded)');
    }

    await screenshot(viewer, t, 'serve.png');
    for (const chart of ['#throughput', '#latency']) {
      const drawn = await pixelsOfColors(viewer.page, chart, SERIES_COLORS);
      assert.ok(drawn > 50, `${chart}: no line drawn (${drawn} pixels in the series' colours)`);
    }
    assert.deepEqual(viewer.problems, []);
    await browser.close();
  });

  it('rtml run --metrics-port: throughput, watermark lag, checkpoint times, drift per feature, versions, predictions over the WebSocket', async (t) => {
    const load = steadyLoad(t);
    const dir = scratch(t, 'rtml-dashboard-run-');
    const name = uniqueModel('dash');
    cleanModels(t, name);
    const registry = openRegistry(POSTGRES_URI, join(dir, 'artifacts'));
    t.after(() => registry.close());
    await registry.register(name, writeModel(dir, 'a.onnx', { seed: 1 }), { stage: 'production' });
    await registry.register(name, writeModel(dir, 'b.onnx', { seed: 2 }));
    await registry.ab(name, [{ version: 1, percent: 70 }, { version: 2, percent: 30 }]);

    // Payments are scored into the predictions topic, which the same run monitors against a
    // reference where x0 lies in [0, 1): live, x0 lies in [0.5, 1.5) (drift), x1 and x2 do not move.
    writeFileSync(
      join(dir, 'topology.ts'),
      `
import { buildProfile, defineTopology, keyBy, monitor, score, tumbling } from 'rtml';
const spread = (n: number, k: number) => Array.from({ length: n }, (_, i) => ((i + 1) * k) % 1);
const reference = buildProfile([{ name: 'x0', values: spread(2000, 0.618034) }, { name: 'x1', values: spread(2000, 0.414214) }, { name: 'x2', values: spread(2000, 0.732051) }], spread(2000, 0.381966));
export default defineTopology('dashboard', ({ source, sink }) => [
  source('payments', { time: 'ts', outOfOrder: '1s' }).pipe(keyBy('card_id'), score('registry:${name}', { features: ['x0', 'x1', 'x2'] }), sink('scored')),
  source('predictions', { time: 'ts', outOfOrder: '1s' }).pipe(monitor({ name: '${name}', profile: reference }, { window: tumbling('2s') }), sink('drift')),
]);
`,
    );
    const payments = join(dir, 'payments');
    const predictions = join(dir, 'predictions');
    let i = 0;
    const pay = () =>
      appendLines(
        payments,
        Array.from({ length: 20 }, () => {
          i++;
          return JSON.stringify({ card_id: `c${i % 20}`, ts: Date.now(), x0: 0.5 + ((i * 0.618034) % 1), x1: (i * 0.414214) % 1, x2: (i * 0.732051) % 1 });
        }),
      );
    pay();
    appendLines(predictions, []);
    const live = await startLive(t, [
      'run', join(dir, 'topology.ts'), '--follow', '--metrics-port', '0', '--no-progress',
      '--source', `payments=log:${payments}`, '--sink', `scored=log:${predictions}`,
      '--source', `predictions=log:${predictions}`, '--sink', 'drift=null:',
      '--registry', POSTGRES_URI, '--artifacts', join(dir, 'artifacts'),
      '--checkpoint-dir', join(dir, 'checkpoints'), '--checkpoint-interval', '300ms',
    ]);
    load.every(100, pay);

    const snapshot = await get(`${live.url}/dashboard/metrics.json`);
    assert.equal(snapshot.status, 200);
    assert.deepEqual([JSON.parse(snapshot.text).server, JSON.parse(snapshot.text).title], ['run', 'dashboard']);
    const missing = await get(`${live.url}/dashboard/assets/nope.js`);
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.text).error, ASSET_404);
    assert.match((await get(`${live.url}/dashboard/assets/%ZZ`)).text, /no dashboard file '%ZZ'/);
    assert.equal(await connect(`${live.url.replace('http', 'ws')}/elsewhere`), 404);
    const feed = await connect(`${live.url.replace('http', 'ws')}/dashboard/predictions`);
    assert.ok(feed instanceof WebSocket);
    await refusesMessages(feed);

    const browser = await launchChromium(t);
    const viewer = await openPage(browser, `${live.url}/dashboard`);
    const x0Drifted = `[...document.querySelectorAll('#drift tbody tr')].some((tr) => tr.children[3].textContent === 'x0' && tr.querySelector('td.drifted') !== null)`;
    const panels = await waitForPanels(
      viewer,
      `${points('throughput')} >= 3 && ${points('watermark')} >= 3 && ${points('latency')} >= 2 && ${received} >= 10 && ${rowCount('models')} >= 2 && ${x0Drifted}`,
    );
    assert.match(panels.throughput!, /events in\/s/);
    assert.match(panels.latency!, /checkpoint/);

    // Drift per feature, for each version: x0 moved, x1 and x2 did not, by KS (the decisive test at
    // these window sizes, Evidently's default), so one feature in three drifted.
    const header = await viewer.page.evaluate(() => [...document.querySelectorAll('#drift thead th')].map((th) => th.textContent));
    const ks = header.indexOf('ks');
    assert.ok(ks > 0, header.join(' '));
    const drift = await viewer.page.evaluate(() =>
      [...document.querySelectorAll('#drift tbody tr')].map((tr) => [...tr.children].map((td) => ({ text: td.textContent, drifted: td.classList.contains('drifted') }))),
    );
    assert.deepEqual(drift.map((r) => `${r[0]!.text} ${r[1]!.text} ${r[3]!.text}`), ['v1', 'v2'].flatMap((v) => ['score', 'x0', 'x1', 'x2'].map((f) => `${name} ${v} ${f}`)));
    for (const row of drift) {
      const what = JSON.stringify(row.map((c) => c.text));
      assert.equal(row[2]!.text, '33%', `drift share: ${what}`);
      if (row[3]!.text !== 'score') assert.equal(row[ks]!.drifted, row[3]!.text === 'x0', `KS: ${what}`);
    }

    // Versions: both of the split scored events; no configured split shown for a run.
    const models = await rowsOf(viewer, 'models');
    assert.deepEqual(models.map((r) => r.slice(0, 3)), [[name, 'v1', '—'], [name, 'v2', '—']]);
    for (const row of models) assert.ok(Number(row[3]) > 0, `${row[1]} scored nothing`);

    const rows = await rowsOf(viewer, 'predictions');
    for (const [, model, version, key, score] of rows) {
      assert.equal(model, name);
      assert.match(version!, /^v[12]$/);
      assert.match(key!, /^c\d+$/);
      assert.ok(Number(score) >= 0 && Number(score) <= 1, score);
    }

    await screenshot(viewer, t, 'run.png');
    for (const chart of ['#throughput', '#watermark', '#latency']) {
      const drawn = await pixelsOfColors(viewer.page, chart, SERIES_COLORS);
      assert.ok(drawn > 50, `${chart}: no line drawn (${drawn} pixels in the series' colours)`);
    }
    assert.deepEqual(viewer.problems, []);
    await browser.close();
    assert.equal(await live.stop(), 0, live.stderr());
  });
});
