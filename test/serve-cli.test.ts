import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/features.ts';

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('rtml serve (command line)', () => {
  it('starts with no models, says on /ready why it is not ready, and stops on SIGTERM', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-serve-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const child = spawn(process.execPath, [RTML, 'serve', '--port', String(port), '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models'), '--online', 'memory:'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    t.after(() => child.kill('SIGKILL'));
    // A new PGlite data dir takes seconds to initialise, many more on a machine busy with other tests.
    for (let i = 0; i < 1200 && !stderr.includes('serving on'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, new RegExp(`serving on http://127\\.0\\.0\\.1:${port} \\(models: none; not ready: no models registered`));
    assert.match(stderr, /every route is open/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { reasons: string[] }).reasons.join(), /no models registered: rtml models register/);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
    assert.match(stderr, /serve: stopped/);
  });

  it('keys create prints a key once and stores only its hash', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-keys-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'keys.json');
    const key = execFileSync(process.execPath, [RTML, 'keys', 'create', 'app1', '--file', file, '--scopes', 'predict,read', '--rate', '50/s:100'], { cwd: ROOT, encoding: 'utf8' }).trim();
    assert.match(key, /^rtml_[A-Za-z0-9_-]{40,}$/);
    const stored = readFileSync(file, 'utf8');
    assert.ok(!stored.includes(key.slice(5)), 'the key itself is not stored');
    assert.deepEqual((JSON.parse(stored) as { keys: { id: string; scopes: string[]; rate: object }[] }).keys.map((k) => [k.id, k.scopes, k.rate]), [['app1', ['predict', 'read'], { perSecond: 50, burst: 100 }]]);
  });
});
