import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onnx } from '../models/onnx/index.ts';
import { ArtifactStore, openRegistry, type Registry } from '../models/registry/index.ts';
import { postgresClient } from '../storage/index.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { cleanModels, modelBytes, uniqueModel, writeModel } from './support/registry.ts';

const files = tempDir('registry-versions');
after(() => files.remove());
const artifacts = join(files.dir, 'artifacts');
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('model registry: versions (Postgres)', () => {
  let registry: Registry;
  before(() => {
    registry = openRegistry(POSTGRES_URI, artifacts);
  });
  after(() => registry.close());

  it('registers numbered versions with sha256, signature, metrics and a content-addressed artifact', async (t) => {
    const name = uniqueModel('versions');
    cleanModels(t, name);
    const first = writeModel(files.dir, 'v1.onnx', { seed: 1, metrics: { held_out_auc: 0.91, train_auc: 0.95 } });
    const second = writeModel(files.dir, 'v2.onnx', { seed: 2 });
    const r1 = await registry.register(name, first);
    const r2 = await registry.register(name, second);
    assert.equal(r1.created, true);
    assert.deepEqual([r1.version.version, r2.version.version], [1, 2]);

    const v1 = r1.version;
    assert.equal(v1.sha256, sha(readFileSync(first)));
    assert.equal(v1.artifact, join(artifacts, `${v1.sha256}.onnx`));
    assert.deepEqual(readFileSync(v1.artifact), readFileSync(first));
    assert.deepEqual(v1.features, ['x0', 'x1', 'x2']);
    assert.equal(v1.featureCount, 3);
    assert.deepEqual(v1.signature, { input: { name: 'features', type: 'float32', shape: ['N', 3] }, output: { name: 'score', type: 'float32', shape: ['N', 1] } });
    assert.deepEqual(v1.metrics, { held_out_auc: 0.91, train_auc: 0.95 });
    assert.equal(v1.sizeBytes, readFileSync(first).length);
    assert.ok(Math.abs(v1.createdAt.getTime() - Date.now()) < 60_000, String(v1.createdAt));

    const listed = await registry.list(name);
    assert.deepEqual(listed.map((v) => [v.version, v.sha256]), [[1, v1.sha256], [2, r2.version.sha256]]);
    assert.deepEqual(await registry.get(name, 1), v1);
    assert.equal(sha(registry.readArtifact(v1)), v1.sha256);
    await assert.rejects(registry.get(name, 7), { code: 'RTML_E_REGISTRY', message: /has no version v7 \(registered: v1, v2\)/ });
    // No temp files are left beside the artifacts.
    assert.deepEqual(readdirSync(artifacts).filter((f) => !/^[0-9a-f]{64}\.onnx$/.test(f)), []);
  });

  it('keeps versions immutable: the database refuses to update a version row', async (t) => {
    const name = uniqueModel('immutable');
    cleanModels(t, name);
    await registry.register(name, writeModel(files.dir, 'imm.onnx', { seed: 3 }));
    const sql = postgresClient(POSTGRES_URI);
    t.after(() => sql.close());
    await assert.rejects(sql.query("UPDATE rtml_model_versions SET sha256 = repeat('0', 64) WHERE name = $1", [name]), /model versions are immutable/);
    assert.notEqual((await registry.get(name, 1)).sha256, '0'.repeat(64));
  });

  it('re-registering identical bytes returns the existing version; another name shares the artifact', async (t) => {
    const name = uniqueModel('idem');
    const other = uniqueModel('idem');
    cleanModels(t, name, other);
    const file = writeModel(files.dir, 'idem.onnx', { seed: 4 });
    const copy = writeModel(files.dir, 'idem-copy.onnx', readFileSync(file));
    const r1 = await registry.register(name, file);
    const again = await registry.register(name, copy);
    assert.equal(again.created, false);
    assert.deepEqual(again.version, r1.version);
    assert.equal((await registry.list(name)).length, 1);
    const elsewhere = await registry.register(other, file);
    assert.equal(elsewhere.created, true);
    assert.equal(elsewhere.version.version, 1);
    assert.equal(elsewhere.version.artifact, r1.version.artifact);
  });

  it('register with a stage promotes the new version', async (t) => {
    const name = uniqueModel('staged');
    cleanModels(t, name);
    const r = await registry.register(name, writeModel(files.dir, 'staged1.onnx', { seed: 5 }), { stage: 'staging' });
    assert.deepEqual(r.routing.staging, [1]);
    const p = await registry.register(name, writeModel(files.dir, 'staged2.onnx', { seed: 6 }), { stage: 'production' });
    assert.equal(p.routing.production, 2);
  });

  it('concurrent registrations of one name get consecutive versions', async (t) => {
    const name = uniqueModel('concurrent');
    cleanModels(t, name);
    const paths = [10, 11, 12, 13].map((seed) => writeModel(files.dir, `c${seed}.onnx`, { seed }));
    const results = await Promise.all(paths.map((p) => registry.register(name, p)));
    assert.deepEqual(results.map((r) => r.version.version).sort(), [1, 2, 3, 4]);
  });

  it('refuses corrupt, truncated and non-ONNX files, saying why', async (t) => {
    const name = uniqueModel('corrupt');
    cleanModels(t, name);
    const bytes = modelBytes({ seed: 7 });
    const truncated = writeModel(files.dir, 'truncated.onnx', bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(registry.register(name, truncated), { code: 'RTML_E_MODEL', message: /truncated\.onnx: not an ONNX model/ });
    const text = writeModel(files.dir, 'text.onnx', 'card_id,amount\nc1,12.5\n');
    await assert.rejects(registry.register(name, text), { code: 'RTML_E_MODEL', message: /text\.onnx: not an ONNX model/ });
    const flipped = Uint8Array.from(bytes);
    for (let i = 40; i < flipped.length; i += 97) flipped[i] = flipped[i]! ^ 0xff;
    await assert.rejects(registry.register(name, writeModel(files.dir, 'flipped.onnx', flipped)), { code: 'RTML_E_MODEL' });
    await assert.rejects(registry.register(name, join(files.dir, 'absent.onnx')), { code: 'RTML_E_MODEL', message: /absent\.onnx: cannot be read/ });
    assert.deepEqual(await registry.list(name), []);
  });

  it('refuses a model that parses but ONNX Runtime cannot load', async (t) => {
    const name = uniqueModel('unrunnable');
    cleanModels(t, name);
    const proto = onnx.ModelProto.decode(modelBytes({ seed: 8 }));
    proto.graph!.node![1]!.opType = 'NoSuchOperator';
    const file = writeModel(files.dir, 'unrunnable.onnx', onnx.ModelProto.encode(proto).finish());
    await assert.rejects(registry.register(name, file), { code: 'RTML_E_MODEL', message: /unrunnable\.onnx: ONNX Runtime cannot load it: .*NoSuchOperator/ });
    assert.deepEqual(await registry.list(name), []);
  });

  it('refuses declared features of another width or order, and a model without feature names', async (t) => {
    const name = uniqueModel('width');
    cleanModels(t, name);
    const file = writeModel(files.dir, 'width.onnx', { seed: 9 });
    await assert.rejects(registry.register(name, file, { features: ['x0', 'x1'] }), {
      code: 'RTML_E_MODEL',
      message: /takes 3 feature\(s\) \[x0, x1, x2\], but 2 are declared \[x0, x1\]/,
    });
    await assert.rejects(registry.register(name, file, { features: ['x0', 'x2', 'x1'] }), { message: /feature 2 is "x1" in the model but "x2" is declared/ });
    const proto = onnx.ModelProto.decode(modelBytes({ seed: 9 }));
    proto.metadataProps = proto.metadataProps.filter((p) => p.key !== 'rtml.features');
    const anonymous = writeModel(files.dir, 'anonymous.onnx', onnx.ModelProto.encode(proto).finish());
    await assert.rejects(registry.register(name, anonymous), { code: 'RTML_E_MODEL', message: /records no feature names .*declare its 3 input column\(s\) with --features/ });
    const named = await registry.register(name, anonymous, { features: ['a', 'b', 'c'] });
    assert.deepEqual(named.version.features, ['a', 'b', 'c']);
  });

  it("keeps a name's feature list unless the change is explained", async (t) => {
    const name = uniqueModel('features');
    cleanModels(t, name);
    await registry.register(name, writeModel(files.dir, 'f1.onnx', { seed: 1, features: ['amount', 'count', 'mean'] }));
    const wider = writeModel(files.dir, 'f2.onnx', { seed: 1, features: ['amount', 'count', 'mean', 'hour'] });
    await assert.rejects(registry.register(name, wider), {
      code: 'RTML_E_REGISTRY',
      message: /takes features \[amount, count, mean, hour\] but '.*' v1 takes \[amount, count, mean\]; .*--feature-change/,
    });
    // A refused registration leaves no artifact behind.
    assert.ok(!readdirSync(artifacts).includes(`${sha(readFileSync(wider))}.onnx`), 'no orphan artifact for the refused model');
    const r = await registry.register(name, wider, { featureChange: 'hour of day added' });
    assert.ok(readdirSync(artifacts).includes(`${sha(readFileSync(wider))}.onnx`));
    assert.equal(r.version.version, 2);
    assert.equal(r.version.featureChange, 'hour of day added');
    const same = await registry.register(name, writeModel(files.dir, 'f3.onnx', { seed: 2, features: ['amount', 'count', 'mean', 'hour'] }), { featureChange: 'ignored' });
    assert.equal(same.version.featureChange, null);
  });

  it('refuses a bad model name', async () => {
    await assert.rejects(registry.register('../etc', writeModel(files.dir, 'n.onnx', { seed: 1 })), { code: 'RTML_E_REGISTRY', message: /model name "\.\.\/etc"/ });
  });
});

describe('model registry: artifact store', () => {
  it('reads back what it wrote and refuses a damaged artifact', () => {
    const store = new ArtifactStore(join(files.dir, 'store'));
    const bytes = modelBytes({ seed: 20 });
    const { sha256, path } = store.put(bytes);
    assert.equal(sha256, sha(bytes));
    assert.deepEqual(store.put(bytes), { sha256, path });
    assert.ok(Buffer.from(store.read(sha256)).equals(bytes));
    writeFileSync(path, bytes.subarray(0, 10));
    assert.throws(() => store.read(sha256), { code: 'RTML_E_REGISTRY', message: /is damaged/ });
    store.put(bytes); // a damaged copy is replaced by the intact bytes
    assert.ok(Buffer.from(store.read(sha256)).equals(bytes));
  });
});

describe('model registry: PGlite', () => {
  const pglite = tempDir('registry-pglite');
  let registry: Registry;
  before(() => {
    registry = openRegistry(`pglite:${pglite.dir}`, artifacts);
  });
  after(async () => {
    await registry.close();
    pglite.remove();
  });

  it('registers, promotes and rolls back with the same SQL as Postgres', async () => {
    const name = 'fraud';
    await registry.register(name, writeModel(files.dir, 'p1.onnx', { seed: 30 }), { stage: 'production' });
    await registry.register(name, writeModel(files.dir, 'p2.onnx', { seed: 31 }), { stage: 'production' });
    assert.equal((await registry.register(name, writeModel(files.dir, 'p2-again.onnx', { seed: 31 }))).created, false);
    assert.equal((await registry.routing(name)).production, 2);
    assert.equal((await registry.rollback(name)).routing.production, 1);
    assert.deepEqual((await registry.list()).map((v) => v.version), [1, 2]);
  });
});
