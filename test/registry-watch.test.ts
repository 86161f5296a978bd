import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { APPLICATION_NAME, openRegistry, Registry, type Routing } from '../models/registry/index.ts';
import { pgliteClient } from '../storage/index.ts';
import { POSTGRES_URI, tempDir } from './support/features.ts';
import { cleanModels, uniqueModel, writeModel } from './support/registry.ts';

const files = tempDir('registry-watch');
after(() => files.remove());
const artifacts = `${files.dir}/artifacts`;

/** Collects the routings a watch delivers and lets a test wait for one. */
function recorder() {
  const seen: Routing[] = [];
  const waiters: Array<() => void> = [];
  return {
    seen,
    onChange(r: Routing) {
      seen.push(r);
      for (const w of waiters.splice(0)) w();
    },
    /** Resolves with the first routing delivered that passes `test`, or rejects after `ms`. */
    async until(test: (r: Routing) => boolean, ms: number): Promise<Routing> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = seen.find(test);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`not delivered within ${ms} ms; seen: ${JSON.stringify(seen.map((r) => r.revision))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(timer), resolve()));
        });
      }
    },
  };
}

describe('registry watch: Postgres LISTEN/NOTIFY', () => {
  it('hears a promotion made by another process within a second, without polling', async (t) => {
    const watching = openRegistry(POSTGRES_URI, artifacts);
    const changing = openRegistry(POSTGRES_URI, artifacts); // its own pool: as another process would
    t.after(() => Promise.all([watching.close(), changing.close()]));
    const name = uniqueModel('watch');
    cleanModels(t, name);
    await changing.register(name, writeModel(files.dir, 'w1.onnx', { seed: 1 }), { stage: 'production' });
    await changing.register(name, writeModel(files.dir, 'w2.onnx', { seed: 2 }));

    const rec = recorder();
    // Safety poll far beyond the test: only NOTIFY can deliver in time.
    const watch = await watching.watch(name, (r) => rec.onChange(r), { safetyPollMs: 600_000 });
    t.after(() => watch.close());
    assert.equal(watch.initial.production, 1);

    const started = Date.now();
    await changing.promote(name, 2, 'production');
    const heard = await rec.until((r) => r.production === 2, 1_000);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(heard.revision, watch.initial.revision + 1);
  });

  it('delivers newer revisions only, in order, ending on the latest routing', async (t) => {
    const watching = openRegistry(POSTGRES_URI, artifacts);
    const changing = openRegistry(POSTGRES_URI, artifacts);
    t.after(() => Promise.all([watching.close(), changing.close()]));
    const name = uniqueModel('watch');
    const other = uniqueModel('watch');
    cleanModels(t, name, other);
    for (const seed of [1, 2, 3]) await changing.register(name, writeModel(files.dir, `o${seed}.onnx`, { seed }));
    await changing.register(other, writeModel(files.dir, 'o1.onnx', { seed: 1 }));

    const rec = recorder();
    const watch = await watching.watch(name, (r) => rec.onChange(r), { safetyPollMs: 600_000 });
    t.after(() => watch.close());
    await changing.promote(other, 1, 'production'); // another name: not delivered
    for (const v of [1, 2, 3]) await changing.promote(name, v, 'production');
    await changing.ab(name, [{ version: 2, percent: 50 }, { version: 3, percent: 50 }]);
    const last = await rec.until((r) => r.ab.length === 2, 1_000);
    assert.equal(last.revision, 4);
    const revisions = rec.seen.map((r) => r.revision);
    assert.deepEqual(revisions, [...revisions].sort((a, b) => a - b));
    assert.equal(new Set(revisions).size, revisions.length);
    assert.ok(rec.seen.every((r) => r.name === name));
  });

  it('after its LISTEN connection is killed, reconnects and delivers what changed meanwhile', async (t) => {
    const watching = openRegistry(POSTGRES_URI, artifacts);
    const changing = openRegistry(POSTGRES_URI, artifacts);
    t.after(() => Promise.all([watching.close(), changing.close()]));
    const name = uniqueModel('watch');
    cleanModels(t, name);
    await changing.register(name, writeModel(files.dir, 'k1.onnx', { seed: 1 }));
    const rec = recorder();
    const errors: string[] = [];
    const watch = await watching.watch(name, (r) => rec.onChange(r), { safetyPollMs: 600_000, onError: (e) => errors.push(e.message) });
    t.after(() => watch.close());
    const admin = new pg.Client({ connectionString: POSTGRES_URI });
    await admin.connect();
    t.after(() => admin.end());
    const { rows } = await admin.query('SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1', [APPLICATION_NAME]);
    assert.ok(rows.length >= 1);
    await changing.promote(name, 1, 'production'); // while the watcher is away: NOTIFY is not kept for it
    await rec.until((r) => r.production === 1, 3_000);
    assert.ok(errors.some((m) => /reconnecting/.test(m)), errors.join('\n'));
  });

  it('a closed watch hears nothing more', async (t) => {
    const registry = openRegistry(POSTGRES_URI, artifacts);
    t.after(() => registry.close());
    const name = uniqueModel('watch');
    cleanModels(t, name);
    await registry.register(name, writeModel(files.dir, 'c1.onnx', { seed: 1 }));
    const rec = recorder();
    const watch = await registry.watch(name, (r) => rec.onChange(r), { safetyPollMs: 600_000 });
    await watch.close();
    await registry.promote(name, 1, 'production');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(rec.seen, []);
  });
});

describe('registry watch: PGlite polling', () => {
  it('sees a promotion within a second by polling', async (t) => {
    const pglite = tempDir('registry-watch-pglite');
    // One PGlite per data dir per process: the watcher and the changer share the client.
    const sql = pgliteClient(pglite.dir);
    const registry = new Registry({ sql, artifacts });
    t.after(async () => {
      await registry.close();
      await sql.close();
      pglite.remove();
    });
    await registry.register('fraud', writeModel(files.dir, 'p1.onnx', { seed: 1 }), { stage: 'production' });
    await registry.register('fraud', writeModel(files.dir, 'p2.onnx', { seed: 2 }));
    const rec = recorder();
    const watch = await registry.watch('fraud', (r) => rec.onChange(r));
    assert.equal(watch.initial.production, 1);
    const started = Date.now();
    await registry.promote('fraud', 2, 'production');
    await rec.until((r) => r.production === 2, 1_000);
    assert.ok(Date.now() - started < 1_000);
    await registry.rollback('fraud');
    await rec.until((r) => r.production === 1, 1_000);
  });
});
