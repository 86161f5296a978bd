import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { EventLog } from '../connectors/log/eventLog.ts';
import { cleanPostgres, cleanRedis, POSTGRES_URI, REDIS_URI, uniqueView } from './support/features.ts';
import { eventLines } from './support/generate.ts';

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function rtml(args: string[]) {
  const r = spawnSync(process.execPath, [RTML, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rtml features verify', () => {
  it('finds no mismatch after a run, and reports values changed online or missing offline', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-verify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const view = uniqueView('verify');
    cleanRedis(t, view);
    cleanPostgres(t, view);
    writeFileSync(
      join(dir, 'topo.ts'),
      `import { aggregate, count, defineTopology, featureView, keyBy, materialize, sum, tumbling, window } from 'rtml';
export default defineTopology('verified', ({ source, sink }) =>
  source('events', { time: 'ts', outOfOrder: '5s' }).pipe(keyBy('card_id'), window(tumbling('30s')),
    aggregate({ n: count(), total: sum('amount') }), materialize(featureView({ name: '${view}', features: ['n', 'total'] })), sink('out')));
`,
    );
    const log = EventLog.open(join(dir, 'events'), { create: { partitions: 2 } });
    for (const line of eventLines(5000, { seed: 9, keys: 40 })) log.append(null, 0, 0, Buffer.from(line));
    log.close();
    const stores = ['--online', REDIS_URI, '--offline', POSTGRES_URI];
    const source = ['--source', `events=log:${join(dir, 'events')}`];
    assert.equal(rtml(['run', join(dir, 'topo.ts'), ...source, '--sink', 'out=null:', ...stores]).code, 0);

    const clean = rtml(['features', 'verify', join(dir, 'topo.ts'), '--view', view, ...source, ...stores]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stderr, /40 entities recomputed from [\d,]+ rows; offline .* 0 mismatch\(es\); online .* 0 mismatch\(es\)/);

    const redis = new Redis(REDIS_URI);
    await redis.hset(`rtml:fv:${view}:c7`, 'total', '-1');
    redis.disconnect();
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    await client.query(`DELETE FROM "fv_${view}" WHERE entity = 'c3'`);
    await client.end();
    const broken = rtml(['features', 'verify', join(dir, 'topo.ts'), '--view', view, ...source, ...stores]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /\{"entity":"c7","store":"online","problem":"total -1, expected [\d.]+"\}/);
    assert.match(broken.stdout, /\{"entity":"c3","store":"offline","problem":"missing"\}/);
    assert.match(broken.stderr, /offline .* 1 mismatch\(es\); online .* 1 mismatch\(es\)/);
  });
});
