import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { defineTopology, keyBy, score } from '../engine/index.ts';
import { runTopology } from '../engine/runtime.ts';
import { openRegistry, registryModels } from '../models/registry/index.ts';
import { runSummary } from './support/cli.ts';
import { appendLines, scrape, scrapeUntil, seriesValue, startLive } from './support/liveRun.ts';
import { cleanPostgres, freePort, POSTGRES_URI, RedisServer, uniqueView } from './support/features.ts';
import { memorySink, memorySource } from './support/memory.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';

/**
 * `rtml run --follow --metrics-port`: a live run's Prometheus metrics, scraped while it runs.
 * The counters equal what was fed; checkpoints show up; a feature store outage shows as
 * feature_store_unavailable 1 with rising retries, and 0 again once the store is back.
 */


const countsTopology = `
import { aggregate, count, defineTopology, keyBy, sum, tumbling, window } from 'rtml';
export default defineTopology('metered', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '1s' }).pipe(keyBy('card_id'), window(tumbling('10s'), { late: 'late' }), aggregate({ n: count(), total: sum('amount') }), sink('out')));
`;

const featuresTopology = (view: string) => `
import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window } from 'rtml';
const spend = featureView({ name: '${view}', features: ['n', 'total'] });
export default defineTopology('metered_store', ({ source, sink }) =>
  source('events', { time: 'ts' }).pipe(keyBy('card_id'), window(tumbling('1s')), aggregate({ n: count(), total: sum('amount') }), materialize(spend), sink('out')));
`;

/** `rtml run … --follow --metrics-port 0`, stopped after the test. */
const startRun = (t: TestContext, args: string[]) => startLive(t, ['run', ...args, '--follow', '--metrics-port', '0', '--no-progress']);
const value = seriesValue;
const append = appendLines;

const event = (card: string, ts: number, amount = 1) => JSON.stringify({ card_id: card, amount, ts });

describe('rtml run --metrics-port', () => {
  it('a live run exposes counters equal to what was fed, checkpoints, and a valid exposition', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-metrics-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const topic = join(dir, 'events');
    writeFileSync(join(dir, 'topo.ts'), countsTopology);
    append(topic, [event('a', 1000)]);
    const live = await startRun(t, [
      join(dir, 'topo.ts'), '--source', `events=log:${topic}`,
      '--sink', `out=file:${join(dir, 'out.jsonl')}`, '--sink', `late=file:${join(dir, 'late.jsonl')}`, '--sink', `dlq=file:${join(dir, 'dlq.jsonl')}`,
      '--checkpoint-dir', join(dir, 'checkpoints'), '--checkpoint-interval', '200ms',
    ]);
    const health = await fetch(`${live.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'running', topology: 'metered' });
    assert.equal((await fetch(`${live.url}/nothing`)).status, 404);

    // Appended while it runs: 200 in order, 3 late (their window [0, 10s) is gone once W passes it), 2 bad.
    const good = Array.from({ length: 200 }, (_, i) => event(`c${i % 7}`, 2000 + i * 250, i));
    append(topic, good.slice(0, 100));
    append(topic, [...good.slice(100), '{"card_id": "x",', event('a', 500), event('b', 9000), 'not json', event('c', 3000)]);
    const fed = { in: 1 + 200 + 5, late: 3, deadLettered: 2 };
    const series = (name: string) => `rtml_${name}{topology="metered"}`;
    const text = await scrapeUntil(live, 'all events counted', (s) => value(s, series('events_in_total')) === fed.in && (value(s, series('checkpoints_total')) ?? 0) > 0);
    assert.equal(value(text, series('events_processed_total')), fed.in - fed.late - fed.deadLettered);
    assert.equal(value(text, series('events_late_total')), fed.late);
    assert.equal(value(text, series('events_dead_lettered_total')), fed.deadLettered);
    assert.ok(value(text, series('checkpoints_total'))! > 0);
    assert.ok(value(text, series('checkpoint_bytes'))! > 0, 'the last checkpoint has a size');
    assert.ok(value(text, series('checkpoint_duration_seconds_count'))! > 0);
    assert.ok(value(text, 'rtml_results_out_total{topology="metered",sink="out"}')! > 0);
    // W = max event time - outOfOrder = (2000 + 199 * 250) - 1000, in seconds; the lag is wall clock minus that.
    assert.equal(value(text, series('watermark_seconds')), (2000 + 199 * 250 - 1000) / 1000);
    assert.ok(value(text, series('watermark_lag_seconds'))! > 1e9);
    assert.equal(value(text, series('feature_store_retries_total')), 0);
    assert.match(text, /^process_cpu_user_seconds_total /m, "prom-client's process metrics are there too");

    // The same counts as the summary line once it stops (nothing arrives meanwhile).
    const final = await scrape(live.url);
    assert.equal(await live.stop(), 0, live.stderr());
    const summary = runSummary('metered', live.stderr());
    assert.deepEqual(
      { in: summary.in, processed: summary.processed, late: summary.late, deadLettered: summary.deadLettered, resultsOut: summary.resultsOut },
      {
        in: value(final, series('events_in_total')),
        processed: value(final, series('events_processed_total')),
        late: value(final, series('events_late_total')),
        deadLettered: value(final, series('events_dead_lettered_total')),
        resultsOut: value(final, 'rtml_results_out_total{topology="metered",sink="out"}'),
      },
    );

    await t.test('promtool check metrics accepts the exposition', (t) => {
      if (spawnSync('promtool', ['--version']).error !== undefined) {
        t.skip('promtool is not installed (apt-get install prometheus): exposition not validated by promtool');
        return;
      }
      // Everything parses; lint findings only in prom-client's own Node.js metrics (nodejs_active_handles_total is a gauge).
      const all = spawnSync('promtool', ['check', 'metrics'], { input: final, encoding: 'utf8' });
      assert.ok(all.status === 0 || all.status === 3, `promtool failed (${all.status}): ${all.stdout}${all.stderr}`);
      for (const finding of `${all.stdout}${all.stderr}`.split('\n').filter((l) => l.trim() !== '')) assert.doesNotMatch(finding, /^rtml_/, finding);
      // rtml's own metrics pass the lint as they are.
      const ours = final.split('\n').filter((l) => /^(# (HELP|TYPE) )?rtml_/.test(l)).join('\n') + '\n';
      const strict = spawnSync('promtool', ['check', 'metrics'], { input: ours, encoding: 'utf8' });
      assert.equal(strict.status, 0, `${strict.stdout}${strict.stderr}`);
    });
  });

  it('a feature store outage shows as feature_store_unavailable 1 with rising retries, then 0', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-metrics-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const view = uniqueView('metrics');
    cleanPostgres(t, view);
    const topic = join(dir, 'events');
    writeFileSync(join(dir, 'topo.ts'), featuresTopology(view));
    const redis = new RedisServer(await freePort());
    await redis.start();
    t.after(() => redis.stop());
    let ts = 1_700_000_000_000;
    const burst = (n: number) => Array.from({ length: n }, (_, i) => event(`c${i % 5}`, (ts += 300), 1));
    append(topic, burst(20));
    const live = await startRun(t, [join(dir, 'topo.ts'), '--source', `events=log:${topic}`, '--sink', 'out=null:', '--online', redis.uri, '--offline', POSTGRES_URI]);
    const series = (name: string) => `rtml_${name}{topology="metered_store"}`;
    const unavailable = (s: string) => value(s, series('feature_store_unavailable'));
    const retries = (s: string) => value(s, series('feature_store_retries_total')) ?? 0;
    let text = await scrapeUntil(live, 'the first feature rows written', (s) => value(s, series('events_in_total')) === 20 && value(s, series('feature_store_pending_rows')) === 0 && (value(s, 'rtml_results_out_total{topology="metered_store",sink="out"}') ?? 0) > 0);
    assert.equal(unavailable(text), 0);
    assert.equal(retries(text), 0);

    await redis.stop();
    append(topic, burst(20)); // more windows fire: their rows cannot be written
    text = await scrapeUntil(live, 'the store unavailable', (s) => unavailable(s) === 1 && retries(s) > 0);
    const first = retries(text);
    assert.ok(value(text, series('feature_store_pending_rows'))! > 0, 'rows wait for the store');
    text = await scrapeUntil(live, 'more retries', (s) => retries(s) > first);
    assert.equal(unavailable(text), 1);
    assert.equal((await fetch(`${live.url}/health`)).status, 200, 'a run waiting out a store outage is still running');

    await redis.start();
    text = await scrapeUntil(live, 'the store back', (s) => unavailable(s) === 0 && value(s, series('feature_store_pending_rows')) === 0);
    const total = retries(text);
    assert.ok(total > first);
    assert.equal(await live.stop(), 0, live.stderr());
    assert.match(live.stderr(), new RegExp(`, store retries ${total}\\b`), 'the summary line shows the retries');
  });

  it('score() counts scored events and shadow versions per batch in the run\'s registry (RunOptions.metrics)', async (t) => {
    const name = uniqueModel('metrics');
    cleanModels(t, name);
    const dir = mkdtempSync(join(tmpdir(), 'rtml-metrics-score-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const registry = openRegistry(POSTGRES_URI, join(dir, 'artifacts'));
    t.after(() => registry.close());
    await registry.register(name, writeModel(dir, 'a.onnx', { seed: 1 }), { stage: 'production' });
    await registry.register(name, writeModel(dir, 'b.onnx', { seed: 2 }));
    await registry.shadow(name, [2]);
    const models = registryModels(POSTGRES_URI, join(dir, 'artifacts'), () => {});
    const provider = { open: (_: string, features: readonly string[]) => models.open(name, features), close: () => models.close() };
    const topology = defineTopology('scored', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(keyBy('card'), score('registry:MODEL', { features: ['x0', 'x1', 'x2'], maxBatch: 32 }), sink('out')),
    );
    const events = Array.from({ length: 100 }, (_, i) => ({ id: i, card: `c${i % 9}`, t: i, x0: (i % 7) / 7, x1: (i % 5) / 5, x2: (i % 3) / 3 }));
    const metrics = new Registry();
    const warnings: string[] = [];
    const out = memorySink();
    const stats = await runTopology(topology, { sources: { events: memorySource([events]) }, sinks: { out: out.connector }, models: provider, metrics, warn: (m) => warnings.push(m) });
    await provider.close();
    const text = await metrics.metrics();
    const labels = (version: string) => `{topology="scored",model="MODEL",version="${version}"}`;
    assert.equal(value(text, `rtml_model_scored_total${labels('v1')}`), 100);
    assert.equal(value(text, `rtml_shadow_scored_total${labels('v2')}`), 100);
    const differed = Number(/its label differed on (\d+)/.exec(warnings.join('\n'))?.[1]);
    assert.equal(value(text, `rtml_shadow_disagreements_total${labels('v2')}`) ?? 0, differed);
    assert.equal(value(text, 'rtml_events_in_total{topology="scored"}'), 100, 'a run that ended keeps its counts');
    assert.equal(value(text, 'rtml_results_out_total{topology="scored",sink="out"}'), stats.resultsOut);
    // The same registry takes a second run of the topology: counts add up, nothing is registered twice.
    const again = registryModels(POSTGRES_URI, join(dir, 'artifacts'), () => {});
    t.after(() => again.close());
    await runTopology(topology, { sources: { events: memorySource([events.slice(0, 10)]) }, sinks: { out: memorySink().connector }, models: { open: (_: string, f: readonly string[]) => again.open(name, f) }, metrics, warn: () => {} });
    assert.equal(value(await metrics.metrics(), 'rtml_events_in_total{topology="scored"}'), 110);
  });
});
