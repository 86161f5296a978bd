import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window, type FeatureRow, type FeatureView } from '../engine/index.ts';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import { featureStore } from '../connectors/features/featureStore.ts';
import { memoryOnline } from '../connectors/features/memoryOnline.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';
import { sqlOffline } from '../connectors/features/sqlOffline.ts';
import type { OfflineStore, OnlineStore } from '../connectors/features/stores.ts';
import { StoreUnreachableError, postgresClient, unreachableReason } from '../storage/index.ts';
import { POSTGRES_URI, RedisServer, cleanPostgres, freePort, uniqueView } from './support/features.ts';
import { ev, runOn } from './support/run.ts';

const row = (entity: string, time: number, n: number): FeatureRow => ({ entity, time, values: { n } });

/** An in-memory offline store that records writes and fails on demand. */
function fakeOffline() {
  const written: FeatureRow[] = [];
  const fake = {
    writes: 0,
    /** Errors thrown by the next writes, one each. */
    failures: [] as unknown[],
    written,
    store: {
      description: 'fake-offline',
      async ensureView() {},
      async write(_view: FeatureView, rows: readonly FeatureRow[]) {
        fake.writes++;
        const failure = fake.failures.shift();
        if (failure !== undefined) throw failure;
        written.push(...rows);
      },
      latest: () => Promise.reject(new Error('not used')),
      views: () => Promise.reject(new Error('not used')),
      asOf: () => Promise.reject(new Error('not used')),
      async close() {},
    } satisfies OfflineStore,
  };
  return fake;
}

/** An online store that fails its next `failures.length` writes. */
function flakyOnline(inner: OnlineStore, failures: unknown[]): OnlineStore {
  return {
    description: 'flaky-online',
    async write(view, rows) {
      const failure = failures.shift();
      if (failure !== undefined) throw failure;
      return inner.write(view, rows);
    },
    get: (view, entities) => inner.get(view, entities),
    close: () => inner.close(),
  };
}

const view = featureView({ name: 'writer_test', features: ['n'] });
const refused = () => new StoreUnreachableError('flaky-online', 'ECONNREFUSED');

describe('feature writer', () => {
  it('buffers rows per view, counts them pending, writes offline then online on flush', async () => {
    const offline = fakeOffline();
    const online = memoryOnline();
    const store = featureStore({ online, offline: offline.store, log: () => assert.fail('nothing to log') });
    const writer = await store.open([view]);
    writer.write(view, row('a', 1, 1));
    writer.write(view, row('a', 2, 2));
    writer.write(view, row('b', 1, 5));
    assert.equal(writer.pending, 3);
    await writer.flush();
    assert.equal(writer.pending, 0);
    assert.equal(offline.written.length, 3);
    assert.deepEqual(await online.get(view.name, ['a', 'b']), [{ time: 2, values: { n: 2 } }, { time: 1, values: { n: 5 } }]);
    assert.deepEqual({ ...store.stats }, { rowsWritten: 3, retries: 0, lastError: undefined, unavailable: false });
    await writer.flush(); // nothing buffered: no writes
    assert.equal(offline.writes, 1);
    const other = featureView({ name: 'not_opened', features: ['n'] });
    assert.throws(() => writer.write(other, row('a', 1, 1)), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_FEATURE_VIEW');
    assert.throws(() => writer.write(view, row('a', 1.5, 1)), /not a whole number of epoch ms/);
    await writer.close();
  });

  it('retries an unreachable store with backoff, one log line per streak, and resolves once written', async () => {
    const offline = fakeOffline();
    const lines: string[] = [];
    const store = featureStore({ online: flakyOnline(memoryOnline(), [refused(), refused(), refused()]), offline: offline.store, log: (l) => lines.push(l), retry: { initialMs: 10, maxMs: 20 } });
    const writer = await store.open([view]);
    writer.write(view, row('a', 1, 1));
    const flushed = writer.flush();
    await sleep(5);
    writer.write(view, row('b', 1, 1)); // while the first flush retries
    assert.equal(writer.pending, 2);
    assert.equal(store.stats.unavailable, true, 'unavailable while retrying');
    await flushed;
    assert.equal(writer.pending, 1);
    assert.equal(offline.writes, 1, 'the offline write succeeded once and is not repeated while online retries');
    assert.deepEqual({ ...store.stats }, { rowsWritten: 1, retries: 3, lastError: 'flaky-online: ECONNREFUSED', unavailable: false });
    assert.equal(lines.length, 2);
    assert.equal(lines[0], 'rtml: feature store flaky-online unreachable (ECONNREFUSED); retrying in 0.0s');
    assert.match(lines[1]!, /^rtml: feature store flaky-online reachable again after 3 retries \(\d+\.\ds\)$/);
    await writer.close();
    assert.equal(writer.pending, 0);
    assert.equal(store.stats.rowsWritten, 2);
  });

  it('does not retry other errors: flush rejects with RTML_E_STORE and the rows stay pending', async () => {
    const offline = fakeOffline();
    offline.failures.push(new Error('syntax error at or near "x"'));
    const store = featureStore({ online: memoryOnline(), offline: offline.store, log: () => assert.fail('not an outage') });
    const writer = await store.open([view]);
    writer.write(view, row('a', 1, 1));
    await assert.rejects(writer.flush(), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_STORE' && /writing view 'writer_test' failed: syntax error/.test(err.message));
    assert.equal(writer.pending, 1);
    assert.equal(store.stats.retries, 0);
    await writer.flush(); // the store works again: the same rows are written
    assert.equal(writer.pending, 0);
    assert.equal(offline.written.length, 1);
  });

  it('tells errors that go away when the service returns from the others', () => {
    // What ioredis, pg and Node report while a store is down or restarting: retried.
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
      new Error('Command aborted due to connection close'),
      new Error('Connection is closed.'),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
      new AggregateError([Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })]),
    ]) assert.notEqual(unreachableReason(err), undefined, errorMessage(err));
    for (const err of [new Error('syntax error at or near "SELEC"'), Object.assign(new Error('relation does not exist'), { code: '42P01' }), new TypeError('x is not a function')]) {
      assert.equal(unreachableReason(err), undefined, errorMessage(err));
    }
  });

  it('gives up when its signal aborts', async () => {
    const offline = fakeOffline();
    for (let i = 0; i < 100; i++) offline.failures.push(new StoreUnreachableError('fake-offline', 'ECONNREFUSED'));
    const abort = new AbortController();
    const store = featureStore({ online: memoryOnline(), offline: offline.store, log: () => {}, retry: { initialMs: 10 }, signal: abort.signal });
    const writer = await store.open([view]);
    writer.write(view, row('a', 1, 1));
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(writer.flush(), /gave up writing view 'writer_test'/);
    assert.equal(writer.pending, 1);
  });
});

describe('feature writer against real services', () => {
  it('Redis goes down mid-run: flush waits and retries, then completes when it is back, nothing lost', async (t) => {
    const server = new RedisServer(await freePort());
    await server.start();
    const v = featureView({ name: uniqueView('outage'), features: ['n'] });
    cleanPostgres(t, v.name);
    const lines: string[] = [];
    const offline = sqlOffline(postgresClient(POSTGRES_URI));
    const online = redisOnline(server.uri);
    const abort = new AbortController();
    const store = featureStore({ online, offline, log: (l) => lines.push(l), retry: { initialMs: 50, maxMs: 200 }, signal: abort.signal });
    const writer = await store.open([v]);
    t.after(async () => {
      abort.abort(); // a failed assertion must not leave a flush retrying forever
      await writer.close().catch(() => {});
      await server.stop();
    });
    writer.write(v, row('before', 1, 1));
    await writer.flush();

    await server.stop();
    for (let i = 0; i < 50; i++) writer.write(v, row(`e${i}`, 1000 + i, i));
    let done = false;
    const flushed = writer.flush().then(() => (done = true));
    await sleep(700);
    assert.equal(done, false, 'flush must wait while Redis is down');
    assert.equal(writer.pending, 50);
    assert.ok(store.stats.retries >= 2, `retries ${store.stats.retries}`);
    assert.match(store.stats.lastError ?? '', new RegExp(`^redis://127.0.0.1:${server.port}: `));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`^rtml: feature store redis://127\\.0\\.0\\.1:${server.port} unreachable \\((connection closed|ECONNREFUSED)\\); retrying in 0\\.1s$`));

    await server.start(); // empty: no persistence, so only rows written after the restart are there
    await flushed;
    assert.equal(writer.pending, 0);
    assert.match(lines[1]!, /reachable again after \d+ retries/);
    const got = await online.get(v.name, Array.from({ length: 50 }, (_, i) => `e${i}`));
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => ({ time: 1000 + i, values: { n: i } })));
    assert.equal((await offline.latest(v.name, ['before', 'e49'])).filter((r) => r !== null).length, 2);
    assert.equal(store.stats.rowsWritten, 51);
  });

  it('a topology materializes window results into both stores through runTopology', async (t: TestContext) => {
    const v = featureView({ name: uniqueView('run'), features: ['n', 'total'], ttl: '1h' });
    cleanPostgres(t, v.name);
    const online = memoryOnline();
    const offline = sqlOffline(postgresClient(POSTGRES_URI));
    const topology = defineTopology('t', ({ source, sink }) =>
      source('events', { time: 't' }).pipe(keyBy('k'), window(tumbling(10)), aggregate({ n: count(), total: sum('v') }), materialize(v), sink('out')),
    );
    const store = featureStore({ online, offline });
    // runTopology closes the writer, which closes both stores: read them through fresh ones.
    const check = sqlOffline(postgresClient(POSTGRES_URI));
    t.after(() => check.close());
    const { out } = await runOn(topology, [[ev('a', 1, 2), ev('a', 5, 3), ev('b', 7, 1), ev('a', 12, 4)]], { features: store, bindLate: false });
    assert.equal(out.length, 3);
    assert.deepEqual(await check.latest(v.name, ['a', 'b']), [
      { time: 20, values: { n: 1, total: 4 } },
      { time: 10, values: { n: 1, total: 1 } },
    ]);
    assert.equal(store.stats.rowsWritten, 3);
  });
});
