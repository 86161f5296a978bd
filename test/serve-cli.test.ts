import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request, Agent } from 'node:http';
import WebSocket from 'ws';
import { freePort } from './support/features.ts';

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts `rtml serve` with an empty registry and resolves once it listens; killed at the end of the test. */
async function startServe(t: { after(fn: () => void): void }, extra: string[]): Promise<{ child: ChildProcess; port: number; stderr: () => string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rtml-serve-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = spawn(process.execPath, [RTML, 'serve', '--port', String(port), '--registry', `pglite:${join(dir, 'registry')}`, '--artifacts', join(dir, 'models'), '--online', 'memory:', ...extra.map((a) => a.replace('$DIR', dir))], { cwd: ROOT });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.after(() => child.kill('SIGKILL'));
  // A new PGlite data dir takes seconds to initialise, many more on a machine busy with other tests.
  for (let i = 0; i < 1200 && !stderr.includes('serving on') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(stderr, /serving on/);
  return { child, port, stderr: () => stderr, dir };
}

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

  it('on SIGTERM closes WebSockets with 1001 and exits although a keep-alive client stays connected', async (t) => {
    const { child, port, stderr } = await startServe(t, ['--drain-timeout', '2s']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const get = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        request({ port, host: '127.0.0.1', path: '/health', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
        }).on('error', reject).end();
      });
    assert.equal((await get()).status, 200);
    assert.equal(agent.freeSockets[Object.keys(agent.freeSockets)[0]!]?.length, 1, 'the connection stays open, idle');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    child.kill('SIGTERM');
    const [code, reason] = (await closed) as [number, Buffer];
    assert.equal(code, 1001);
    assert.equal(reason.toString(), 'server shutting down');
    const [exit] = await once(child, 'exit');
    assert.equal(exit, 0, stderr());
    assert.match(stderr(), /serve: stopping \(draining requests in flight\)[\s\S]*serve: stopped/);
  });

  it('--audit-log records each refused credential at once and each principal\'s use per route', async (t) => {
    const keysDir = mkdtempSync(join(tmpdir(), 'rtml-audit-keys-'));
    t.after(() => rmSync(keysDir, { recursive: true, force: true }));
    const keys = join(keysDir, 'keys.json');
    const key = execFileSync(process.execPath, [RTML, 'keys', 'create', 'ops', '--file', keys, '--scopes', 'read'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const { child, port, stderr, dir } = await startServe(t, ['--api-keys', keys, '--audit-log', '$DIR/audit/serve.jsonl']);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/ready`, { headers: { 'x-api-key': key } })).status, 503); // admitted: no models, not ready
    assert.equal((await fetch(`${base}/metrics`, { headers: { 'x-api-key': key } })).status, 403);
    const wrong = 'rtml_not-a-key-that-exists-anywhere-000000000';
    assert.equal((await fetch(`${base}/ready`, { headers: { authorization: `Bearer ${wrong}` } })).status, 401);
    assert.equal((await fetch(`${base}/ready`)).status, 401);
    child.kill('SIGTERM');
    assert.equal((await once(child, 'exit'))[0], 0, stderr());
    const lines = readFileSync(join(dir, 'audit', 'serve.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fingerprint = (k: string) => createHash('sha256').update(k).digest('hex').slice(0, 16);
    const denied = lines.filter((l) => l.event === 'key.denied').map(({ route, credential, fingerprint: f, status, remote }) => ({ route, credential, f, status, remote }));
    assert.deepEqual(denied, [
      { route: 'metrics', credential: 'api-key', f: fingerprint(key), status: 403, remote: '127.0.0.1' },
      { route: 'ready', credential: 'bearer', f: fingerprint(wrong), status: 401, remote: '127.0.0.1' },
      { route: 'ready', credential: 'none', f: undefined, status: 401, remote: '127.0.0.1' },
    ]);
    assert.match(String(lines.find((l) => l.status === 403)!.reason), /scope/);
    const used = lines.filter((l) => l.event === 'key.used');
    assert.deepEqual(used.map(({ principal, route, requests }) => ({ principal, route, requests })), [{ principal: 'ops', route: 'ready', requests: 3 }]);
    assert.ok(Date.parse(String(used[0]!.from)) <= Date.parse(String(used[0]!.to)));
    assert.ok(!readFileSync(join(dir, 'audit', 'serve.jsonl'), 'utf8').includes(key), 'the key itself is never written');
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
