import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { featureView, type FeatureRow, type FeatureView, type FeatureViewSpec } from '../engine/features.ts';
import { RtmlError } from '../engine/errors.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import { sqlOffline } from '../connectors/features/sqlOffline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import { offlineStoreFromUri } from '../connectors/features/uri.ts';
import { StoreUnreachableError, pgliteClient, postgresClient, type SqlClient } from '../storage/index.ts';
import { POSTGRES_URI, cleanPostgres, freePort, tempDir, uniqueView } from './support/features.ts';

const row = (entity: string, time: number, values: FeatureRow['values']): FeatureRow => ({ entity, time, values });

interface Kind {
  name: string;
  client(): SqlClient;
  /** Registers cleanup of the view's table (the PGlite data dir goes with the suite). */
  clean(t: TestContext, view: string): void;
}

const pgliteDir = tempDir('pglite');
const kinds: Kind[] = [
  { name: 'postgres', client: () => postgresClient(POSTGRES_URI), clean: (t, view) => cleanPostgres(t, view) },
  { name: 'pglite', client: () => pgliteClient(pgliteDir.dir), clean: () => {} },
];
after(() => pgliteDir.remove());

for (const kind of kinds) {
  describe(`offline store: ${kind.name}`, () => {
    let sql: SqlClient;
    let store: OfflineStore;
    before(() => {
      sql = kind.client();
      store = sqlOffline(sql);
    });
    after(() => store.close());

    /** A view's rows as [entity, time, ...features], ordered. */
    async function history(view: FeatureView): Promise<unknown[][]> {
      const { rows } = await sql.query(`SELECT * FROM "fv_${view.name}" ORDER BY entity, event_time`);
      return rows.map((r) => [r.entity, Number(r.event_time), ...view.features.map((f) => r[f])]);
    }

    async function open(t: TestContext, spec: Omit<FeatureViewSpec, 'name'> = { features: ['n', 'total'] }, name = uniqueView('offline')) {
      kind.clean(t, name);
      const view = featureView({ name, ...spec });
      await store.ensureView(view);
      return view;
    }

    it('ensureView creates the table and registers the view; running it again changes nothing', async (t) => {
      const view = await open(t, { features: ['n', 'total'], entity: 'card_id', time: 'window_end', ttl: '1h' });
      await store.ensureView(view);
      const registered = (await store.views()).find((v) => v.name === view.name);
      assert.deepEqual(registered, { name: view.name, entity: 'card_id', time: 'window_end', features: ['n', 'total'], ttl: 3_600_000 });
      const plain = await open(t, { features: ['x'] });
      assert.equal((await store.views()).find((v) => v.name === plain.name)?.ttl, Infinity);
    });

    it('upserts are idempotent: the same batch twice leaves the same rows', async (t) => {
      const view = await open(t);
      const batch = [row('c1', 100, { n: 1, total: 10 }), row('c1', 200, { n: 2, total: 25.5 }), row('c2', 100, { n: 1, total: null })];
      await store.write(view, batch);
      const once = await history(view);
      await store.write(view, batch);
      assert.deepEqual(await history(view), once);
      assert.deepEqual(once, [
        ['c1', 100, 1, 10],
        ['c1', 200, 2, 25.5],
        ['c2', 100, 1, null],
      ]);
      assert.deepEqual(await store.latest(view.name, ['c2', 'nobody', 'c1']), [
        { time: 100, values: { n: 1, total: null } },
        null,
        { time: 200, values: { n: 2, total: 25.5 } },
      ]);
    });

    it('a key twice in one batch: the last row wins (no "cannot affect row a second time")', async (t) => {
      const view = await open(t);
      await store.write(view, [row('c1', 100, { n: 1, total: 1 }), row('c2', 100, { n: 5, total: 5 }), row('c1', 100, { n: 2, total: 2 }), row('c1', 100, { n: 3, total: 3 })]);
      assert.deepEqual(await history(view), [
        ['c1', 100, 3, 3],
        ['c2', 100, 5, 5],
      ]);
    });

    it('a view that gains a feature gets a column; older rows hold null there', async (t) => {
      const name = uniqueView('offline');
      const v1 = await open(t, { features: ['n'] }, name);
      await store.write(v1, [row('c1', 100, { n: 1 })]);
      const v2 = featureView({ name, features: ['n', 'total'] });
      await store.ensureView(v2);
      await store.write(v2, [row('c1', 200, { n: 2, total: 7 })]);
      assert.deepEqual(await history(v2), [
        ['c1', 100, 1, null],
        ['c1', 200, 2, 7],
      ]);
      assert.deepEqual((await store.views()).find((v) => v.name === name)?.features, ['n', 'total']);
    });

    it('entities with commas, quotes, braces, NULL and unicode round-trip', async (t) => {
      const view = await open(t, { features: ['n'] });
      const entities = ['a,b', 'say "hi"', '{x}', 'NULL', 'back\\slash', 'ü 🚀', ' ', ''];
      await store.write(view, entities.map((e, i) => row(e, 1_700_000_000_000 + i, { n: i })));
      const latest = await store.latest(view.name, entities);
      assert.deepEqual(latest, entities.map((_, i) => ({ time: 1_700_000_000_000 + i, values: { n: i } })));
    });

    it('bad rows and views fail with RtmlErrors naming the problem', async (t) => {
      const view = await open(t, { features: ['n'] });
      await assert.rejects(store.write(view, [row('c1', 1.5, { n: 1 })]), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_STORE' && /1\.5/.test(err.message));
      const clash = featureView({ name: uniqueView('offline'), features: ['entity'] });
      await assert.rejects(store.ensureView(clash), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_FEATURE_VIEW' && /entity column/.test(err.message));
      await assert.rejects(store.latest(uniqueView('unknown'), ['c1']), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_FEATURE_VIEW' && /no feature view/.test(err.message));
    });
  });
}

describe('offline store: connections and URIs', () => {
  it('an unreachable Postgres fails with StoreUnreachableError (ECONNREFUSED)', async () => {
    const store = postgresOffline(`postgres://postgres@127.0.0.1:${await freePort()}/test`);
    try {
      await assert.rejects(store.ensureView(featureView({ name: uniqueView('down'), features: ['n'] })), (err: unknown) => {
        assert.ok(err instanceof StoreUnreachableError, String(err));
        assert.equal(err.reason, 'ECONNREFUSED');
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('a PGlite data dir whose parent folders do not exist yet is created (its lock file sits beside it)', async () => {
    const client = pgliteClient(join(pgliteDir.dir, 'not', 'yet', 'there'));
    try {
      assert.deepEqual((await client.query<{ x: number }>('SELECT 1 AS x')).rows, [{ x: 1 }]);
    } finally {
      await client.close();
    }
  });

  it('store URIs: postgres://, postgresql:// and pglite:<dir>, anything else is a usage error', async () => {
    const stores = [offlineStoreFromUri('postgres://u:pw@127.0.0.1:5432/test'), offlineStoreFromUri('postgresql://127.0.0.1/test'), offlineStoreFromUri('pglite:data/x')];
    assert.deepEqual(stores.map((s) => s.description), ['postgres://u:***@127.0.0.1:5432/test', 'postgresql://127.0.0.1/test', 'pglite:data/x']);
    for (const s of stores) await s.close(); // nothing was opened: closing is free
    for (const bad of ['pglite:', 'redis://h:1', 'postgres:/x', 'file:x']) {
      assert.throws(() => offlineStoreFromUri(bad), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_USAGE' && err.message.includes('pglite:<dir>'));
    }
  });
});
