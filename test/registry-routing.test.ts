import { hostname, userInfo } from 'node:os';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { partitionFor } from '../connectors/log/partitioner.ts';
import { bucket, choose, emptyRouting, openRegistry, promote, rollback, setAb, setShadow, type Registry, type Routing } from '../models/registry/index.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';

const files = tempDir('registry-routing');
after(() => files.remove());

/** Registers `count` distinct versions of a fresh model name (cleaned up after the test). */
async function model(registry: Registry, t: Parameters<typeof cleanModels>[0], count: number): Promise<string> {
  const name = uniqueModel('routing');
  cleanModels(t, name);
  for (let i = 1; i <= count; i++) await registry.register(name, writeModel(files.dir, `${name}-${i}.onnx`, { seed: 100 + i }));
  return name;
}

describe('model registry: routing (Postgres)', () => {
  let registry: Registry;
  before(() => {
    registry = openRegistry(POSTGRES_URI, `${files.dir}/artifacts`);
  });
  after(() => registry.close());

  it('promote and rollback walk the production history back, then refuse', async (t) => {
    const name = await model(registry, t, 3);
    await assert.rejects(registry.rollback(name), { code: 'RTML_E_REGISTRY', message: /has no production version to roll back/ });
    for (const v of [1, 2, 3]) await registry.promote(name, v, 'production');
    assert.deepEqual((await registry.routing(name)).productionHistory, [1, 2, 3]);
    const back = await registry.rollback(name);
    assert.deepEqual([back.previous.production, back.routing.production], [3, 2]);
    assert.equal((await registry.rollback(name)).routing.production, 1);
    await assert.rejects(registry.rollback(name), { code: 'RTML_E_REGISTRY', message: /cannot roll back: v1 is its first production version/ });
    assert.equal((await registry.routing(name)).production, 1);
    const events = await registry.history(name);
    assert.deepEqual(
      events.map((e) => [e.revision, e.action, e.action === 'register' ? e.detail.version : e.detail.from, e.detail.to]),
      [[0, 'register', 1, undefined], [0, 'register', 2, undefined], [0, 'register', 3, undefined], [1, 'promote', null, 1], [2, 'promote', 1, 2], [3, 'promote', 2, 3], [4, 'rollback', 3, 2], [5, 'rollback', 2, 1]],
    );
    // Each change names who made it: RTML_ACTOR, else the OS user at this host.
    assert.deepEqual([...new Set(events.map((e) => e.actor))], [process.env.RTML_ACTOR ?? `${userInfo().username}@${hostname()}`]);
  });

  it('staging: added, kept apart from production, left when promoted', async (t) => {
    const name = await model(registry, t, 3);
    await registry.promote(name, 1, 'production');
    await registry.promote(name, 2, 'staging');
    await registry.promote(name, 3, 'staging');
    const again = await registry.promote(name, 3, 'staging');
    assert.equal(again.changed, false);
    assert.equal(again.routing.revision, 3);
    await assert.rejects(registry.promote(name, 1, 'staging'), { message: /v1 is the production version; staging is for versions on their way there/ });
    await assert.rejects(registry.promote(name, 9, 'production'), { code: 'RTML_E_REGISTRY', message: /has no version v9 \(registered: v1, v2, v3\)/ });
    const promoted = await registry.promote(name, 2, 'production');
    assert.deepEqual([promoted.routing.production, promoted.routing.staging], [2, [3]]);
  });

  it('A/B splits are validated and stored in version order; [] ends the split', async (t) => {
    const name = await model(registry, t, 3);
    const refused = async (splits: { version: number; percent: number }[], message: RegExp) =>
      assert.rejects(registry.ab(name, splits), { code: 'RTML_E_REGISTRY', message });
    await refused([{ version: 1, percent: 50 }, { version: 2, percent: 40 }], /percentages sum to 90, not 100 \(v1:50 v2:40\)/);
    await refused([{ version: 1, percent: 50 }, { version: 7, percent: 50 }], /has no version v7/);
    await refused([{ version: 1, percent: 50 }, { version: 1, percent: 50 }], /v1 is named twice/);
    await refused([{ version: 1, percent: 0 }, { version: 2, percent: 100 }], /v1 has 0 %; each version of a split takes a whole percentage from 1 to 100/);
    await refused([{ version: 1, percent: 50.5 }, { version: 2, percent: 49.5 }], /whole percentage/);
    await refused([{ version: 1, percent: 100 }], /needs two versions or more/);
    const set = await registry.ab(name, [{ version: 3, percent: 10 }, { version: 1, percent: 90 }]);
    assert.deepEqual(set.routing.ab, [{ version: 1, percent: 90 }, { version: 3, percent: 10 }]);
    assert.deepEqual((await registry.routing(name)).ab, set.routing.ab);
    assert.equal((await registry.ab(name, [{ version: 1, percent: 90 }, { version: 3, percent: 10 }])).changed, false);
    assert.deepEqual((await registry.ab(name, [])).routing.ab, []);
  });

  it('shadow versions: known, distinct, never the production version', async (t) => {
    const name = await model(registry, t, 3);
    await registry.promote(name, 1, 'production');
    await assert.rejects(registry.shadow(name, [1]), { message: /v1 is the production version; shadows are scored beside it/ });
    await assert.rejects(registry.shadow(name, [4]), { message: /has no version v4/ });
    assert.deepEqual((await registry.shadow(name, [3, 2])).routing.shadow, [2, 3]);
    // A shadow promoted to production stops being a shadow.
    assert.deepEqual((await registry.promote(name, 2, 'production')).routing.shadow, [3]);
    assert.deepEqual((await registry.shadow(name, [])).routing.shadow, []);
  });
});

describe('choose: deterministic assignment by entity key', () => {
  const routing = (ab: Routing['ab'], production: number | null = 1): Routing => ({ ...emptyRouting('fraud'), revision: 1, production, productionHistory: production === null ? [] : [production], ab });
  const keys = Array.from({ length: 10_000 }, (_, i) => `card-${i}`);

  it('serves production without a split, and refuses when nothing serves', () => {
    assert.equal(choose(routing([], 4), 'card-1'), 4);
    assert.throws(() => choose(routing([], null), 'card-1'), { code: 'RTML_E_REGISTRY', message: /no production version and no A\/B split/ });
  });

  it('gives the same key the same version, and roughly the split over 10k keys', () => {
    const r = routing([{ version: 1, percent: 70 }, { version: 2, percent: 20 }, { version: 3, percent: 10 }]);
    const first = keys.map((k) => choose(r, k));
    assert.deepEqual(keys.map((k) => choose(r, k)), first);
    assert.equal(choose(r, 42), choose(r, '42'));
    const counts = new Map<number, number>();
    for (const v of first) counts.set(v, (counts.get(v) ?? 0) + 1);
    for (const [version, share] of [[1, 0.7], [2, 0.2], [3, 0.1]] as const) {
      const got = (counts.get(version) ?? 0) / keys.length;
      assert.ok(Math.abs(got - share) < 0.02, `v${version}: ${got} of the keys, expected about ${share}`);
    }
  });

  it('ramping the newer version up only moves keys onto it', () => {
    const before = routing([{ version: 1, percent: 90 }, { version: 2, percent: 10 }]);
    const after = routing([{ version: 1, percent: 50 }, { version: 2, percent: 50 }]);
    for (const k of keys) if (choose(before, k) === 2) assert.equal(choose(after, k), 2, k);
  });

  it('buckets are uniform, also within one log partition (the model name salts the hash)', () => {
    const perBucket = new Array<number>(100).fill(0);
    for (const k of keys) perBucket[bucket('fraud', k)]!++;
    assert.ok(Math.min(...perBucket) > 50 && Math.max(...perBucket) < 150, `${Math.min(...perBucket)}..${Math.max(...perBucket)}`);
    // Keys of one partition (plain FNV-1a mod 4) would all share bucket mod 4 without the salt and fmix.
    const partition0 = keys.filter((k) => partitionFor(k, 4) === 0);
    const mod4 = [0, 0, 0, 0];
    for (const k of partition0) mod4[bucket('fraud', k) % 4]!++;
    for (const n of mod4) assert.ok(Math.abs(n / partition0.length - 0.25) < 0.04, `bucket mod 4 spread in partition 0: ${mod4}`);
  });
});

describe('routing transitions (pure)', () => {
  it('change nothing when nothing changes, so no revision is spent', () => {
    const r: Routing = { ...emptyRouting('m'), production: 2, productionHistory: [1, 2], shadow: [3] };
    assert.equal(promote(r, 2, 'production', [1, 2, 3]), null);
    assert.equal(setShadow(r, [3], [1, 2, 3]), null);
    assert.equal(setAb(r, [], [1, 2, 3]), null);
    assert.deepEqual(rollback(r).routing.productionHistory, [1]);
  });
});
