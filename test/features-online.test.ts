import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { featureView, type FeatureRow, type FeatureViewSpec } from '../engine/features.ts';
import { RtmlError } from '../engine/errors.ts';
import { getOnlineFeatures } from '../connectors/features/featureStore.ts';
import { memoryOnline } from '../connectors/features/memoryOnline.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';
import type { OnlineStore } from '../connectors/features/stores.ts';
import { onlineStoreFromUri } from '../connectors/features/uri.ts';
import { StoreUnreachableError } from '../storage/index.ts';
import { REDIS_URI, cleanRedis, freePort, uniqueView } from './support/features.ts';

const row = (entity: string, time: number, values: FeatureRow['values']): FeatureRow => ({ entity, time, values });

/** The same behaviour checked on every online store. */
const stores: [string, () => OnlineStore][] = [
  ['memory', () => memoryOnline()],
  ['redis', () => redisOnline(REDIS_URI)],
];

function setup(t: TestContext, make: () => OnlineStore, spec: Omit<FeatureViewSpec, 'name'> = { features: ['n', 'total'] }) {
  const view = featureView({ name: uniqueView('online'), ...spec });
  const store = make();
  cleanRedis(t, view.name);
  t.after(() => store.close());
  return { view, store };
}

for (const [kind, make] of stores) {
  describe(`online store: ${kind}`, () => {
    it('newer wins: an older row never overwrites, an equal time replaces, a newer one updates', async (t) => {
      const { view, store } = setup(t, make);
      await store.write(view, [row('c1', 200, { n: 2, total: 20 })]);
      await store.write(view, [row('c1', 100, { n: 1, total: 10 })]); // late result, older window
      assert.deepEqual(await store.get(view.name, ['c1']), [{ time: 200, values: { n: 2, total: 20 } }]);
      await store.write(view, [row('c1', 200, { n: 3, total: 35 })]); // emit: 'update' of the same window
      assert.deepEqual(await store.get(view.name, ['c1']), [{ time: 200, values: { n: 3, total: 35 } }]);
      await store.write(view, [row('c1', 300, { n: 1, total: 5 })]);
      assert.deepEqual(await store.get(view.name, ['c1']), [{ time: 300, values: { n: 1, total: 5 } }]);
    });

    it('newer wins inside one batch, whatever the order of its rows', async (t) => {
      const { view, store } = setup(t, make);
      await store.write(view, [row('a', 300, { n: 3, total: 3 }), row('b', 100, { n: 1, total: 1 }), row('a', 100, { n: 1, total: 1 }), row('a', 300, { n: 4, total: 4 }), row('a', 200, { n: 2, total: 2 })]);
      assert.deepEqual(await store.get(view.name, ['a', 'b']), [
        { time: 300, values: { n: 4, total: 4 } },
        { time: 100, values: { n: 1, total: 1 } },
      ]);
    });

    it('null and awkward numbers round-trip exactly', async (t) => {
      const { view, store } = setup(t, make, { features: ['a', 'b', 'c', 'd', 'e'] });
      const values = { a: null, b: 0, c: -3.5, d: 0.1 + 0.2, e: 1e-300 };
      await store.write(view, [row('x:y', 1_700_000_000_123, values)]);
      assert.deepEqual(await store.get(view.name, ['x:y']), [{ time: 1_700_000_000_123, values }]);
    });

    it('get: many entities in the order asked, null for the unknown ones', async (t) => {
      const { view, store } = setup(t, make);
      const rows = Array.from({ length: 100 }, (_, i) => row(`e${i}`, 1000 + i, { n: i, total: i * 1.5 }));
      await store.write(view, rows);
      const asked = [...Array(100).keys()].reverse().map((i) => (i % 10 === 0 ? `missing${i}` : `e${i}`));
      const got = await getOnlineFeatures(store, view.name, asked);
      assert.equal(got.length, 100);
      asked.forEach((entity, i) => {
        const n = Number(entity.slice(1));
        assert.deepEqual(got[i], entity.startsWith('missing') ? null : { time: 1000 + n, values: { n, total: n * 1.5 } }, entity);
      });
      assert.deepEqual(await store.get(view.name, []), []);
      assert.deepEqual(await store.get(uniqueView('nothing'), ['e1']), [null]);
    });

    it('ttl: values expire ttl after the write that last changed them', async (t) => {
      const { view, store } = setup(t, make, { features: ['n'], ttl: '300ms' });
      await store.write(view, [row('c1', 100, { n: 1 })]);
      assert.deepEqual(await store.get(view.name, ['c1']), [{ time: 100, values: { n: 1 } }]);
      await sleep(500);
      assert.deepEqual(await store.get(view.name, ['c1']), [null]);
      // Once expired, an older row is welcome again.
      await store.write(view, [row('c1', 50, { n: 7 })]);
      assert.deepEqual(await store.get(view.name, ['c1']), [{ time: 50, values: { n: 7 } }]);
    });
  });
}

describe('online store: redis specifics', () => {
  it('one hash per entity and view with __time, PEXPIRE from a finite ttl, none without', async (t) => {
    const withTtl = setup(t, () => redisOnline(REDIS_URI), { features: ['n', 'total'], ttl: '1h' });
    const noTtl = setup(t, () => redisOnline(REDIS_URI), { features: ['n'] });
    await withTtl.store.write(withTtl.view, [row('c1', 1_700_000_000_000, { n: 2, total: null })]);
    await noTtl.store.write(noTtl.view, [row('c1', 5, { n: 1 })]);
    const client = (withTtl.store as ReturnType<typeof redisOnline>).client;
    const key = `rtml:fv:${withTtl.view.name}:c1`;
    assert.deepEqual(await client.hgetall(key), { __time: '1700000000000', n: '2', total: '' });
    const pttl = await client.pttl(key);
    assert.ok(pttl > 0 && pttl <= 3_600_000, `PTTL ${pttl}`);
    assert.equal(await client.pttl(`rtml:fv:${noTtl.view.name}:c1`), -1);
    // An older row that loses does not extend the ttl; a winning one sets it again.
    await client.pexpire(key, 60_000);
    await withTtl.store.write(withTtl.view, [row('c1', 1, { n: 9, total: 9 })]);
    assert.ok((await client.pttl(key)) <= 60_000);
    await withTtl.store.write(withTtl.view, [row('c1', 1_700_000_000_001, { n: 3, total: 1 })]);
    assert.ok((await client.pttl(key)) > 60_000);
  });

  it('get for 100 entities is one write to the socket (one round trip)', async (t) => {
    const { view, store } = setup(t, () => redisOnline(REDIS_URI));
    const redis = store as ReturnType<typeof redisOnline>;
    await store.write(view, Array.from({ length: 100 }, (_, i) => row(`e${i}`, i, { n: i, total: i })));
    // What reaches the socket: write() calls are buffered while it is corked and go out as one writev.
    const stream = redis.client.stream as typeof redis.client.stream & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const single = stream._write;
    const vector = stream._writev;
    let writes = 0;
    stream._write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return single.apply(this, args);
    };
    stream._writev = function (this: unknown, ...args: unknown[]) {
      writes++;
      return vector.apply(this, args);
    };
    t.after(() => {
      stream._write = single;
      stream._writev = vector;
    });
    const got = await getOnlineFeatures(store, view.name, Array.from({ length: 100 }, (_, i) => `e${i}`));
    assert.equal(got.filter((g) => g !== null).length, 100);
    assert.equal(writes, 1);
  });

  it('fails fast with StoreUnreachableError while Redis is down', async () => {
    const store = redisOnline(`redis://127.0.0.1:${await freePort()}`);
    const view = featureView({ name: uniqueView('down'), features: ['n'] });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const started = Date.now();
        await assert.rejects(store.write(view, [row('c1', 1, { n: 1 })]), (err: unknown) => {
          assert.ok(err instanceof StoreUnreachableError, String(err));
          assert.equal(err.reason, 'ECONNREFUSED');
          assert.equal(err.code, 'RTML_E_STORE');
          return true;
        });
        await assert.rejects(store.get(view.name, ['c1']), StoreUnreachableError);
        assert.ok(Date.now() - started < 1000);
      }
    } finally {
      await store.close();
    }
  });

  it('store URIs: redis:// and memory:, anything else is a usage error', async () => {
    const redis = onlineStoreFromUri('redis://127.0.0.1:6379/2');
    assert.equal(redis.description, 'redis://127.0.0.1:6379/2');
    await redis.close();
    assert.equal(onlineStoreFromUri('memory:').description, 'memory:');
    assert.equal(onlineStoreFromUri('redis://user:secret@127.0.0.1:6379').description, 'redis://user:***@127.0.0.1:6379');
    for (const bad of ['redis:', 'postgres://h/db', 'memory', '']) {
      assert.throws(() => onlineStoreFromUri(bad), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_USAGE' && err.message.includes('redis://host:port'));
    }
  });
});
