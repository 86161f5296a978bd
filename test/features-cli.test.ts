import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { featureView } from '../engine/features.ts';
import { RtmlError } from '../engine/errors.ts';
import { featuresExportCommand, featuresGetCommand, featuresListCommand } from '../cli/features.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import { redisOnline } from '../connectors/features/redisOnline.ts';
import { POSTGRES_URI, REDIS_URI, cleanPostgres, cleanRedis, tempDir, uniqueView } from './support/features.ts';

/** What `fn` writes to stdout and stderr. */
async function capture(fn: () => Promise<void>): Promise<{ stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((out.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
  return out;
}

const files = tempDir('features-cli');
after(() => files.remove());

describe('rtml features commands', () => {
  it('features get prints one JSON line per key, values null when unknown', async (t) => {
    const view = featureView({ name: uniqueView('cli'), features: ['n', 'total'] });
    cleanRedis(t, view.name);
    const store = redisOnline(REDIS_URI);
    await store.write(view, [{ entity: 'c1', time: 60_000, values: { n: 2, total: null } }]);
    await store.close();
    const { stdout } = await capture(() => featuresGetCommand(view.name, ['c1', 'c2'], { online: REDIS_URI }));
    assert.deepEqual(stdout.trim().split('\n').map((l) => JSON.parse(l)), [
      { entity: 'c1', time: 60_000, values: { n: 2, total: null } },
      { entity: 'c2', time: null, values: null },
    ]);
    await assert.rejects(featuresGetCommand(view.name, ['c1'], { online: 'memory:' }), (err: unknown) => err instanceof RtmlError && err.code === 'RTML_E_USAGE');
  });

  it('features list and features export read the offline store', async (t) => {
    const view = featureView({ name: uniqueView('cli'), features: ['n'], ttl: '1d' });
    cleanPostgres(t, view.name);
    const store = postgresOffline(POSTGRES_URI);
    await store.ensureView(view);
    await store.write(view, [{ entity: 'c1', time: 100, values: { n: 1 } }]);
    await store.close();
    const listed = await capture(() => featuresListCommand({ offline: POSTGRES_URI }));
    assert.ok(listed.stdout.includes(`${view.name}: entity key, time window_end, features n, ttl 86400000 ms\n`), listed.stdout);
    const labels = path.join(files.dir, 'labels.jsonl');
    fs.writeFileSync(labels, '{"entity":"c1","time":150,"y":1}\n{"entity":"c2","time":150,"y":0}\n');
    const out = path.join(files.dir, 'train.csv');
    const { stderr } = await capture(() => featuresExportCommand({ view: [view.name], labels, out, offline: POSTGRES_URI }));
    assert.equal(stderr, `rtml: features export: 2 row(s), 4 column(s) to ${out} (${view.name}: 1 label(s) without values)\n`);
    assert.equal(fs.readFileSync(out, 'utf8'), `entity,time,y,${view.name}__n\nc1,150,1,1\nc2,150,0,\n`);
  });
});
