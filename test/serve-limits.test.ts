import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createApiKey } from '../serving/apiKeys.ts';
import { get, post, testServer } from './support/serve.ts';

/** Raw HTTP over a socket: what a misbehaving client sends. Resolves with what came back and how long the socket stayed open. */
function rawExchange(port: number, chunks: { data: string; afterMs?: number }[], waitMs: number): Promise<{ response: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let closed = false;
    socket.on('data', (d) => (response += d));
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      finish();
    });
    const timer = setTimeout(finish, waitMs);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closed, ms: performance.now() - started });
    }
    let at = 0;
    for (const chunk of chunks) {
      at += chunk.afterMs ?? 0;
      setTimeout(() => socket.writable && socket.write(chunk.data), at);
    }
  });
}

describe('request limits', () => {
  it('refuses a body over the limit with 413 from its Content-Length, without reading it, and closes', async (t) => {
    const s = await testServer(t, { serve: { body: { maxBytes: 1024 } } });
    const r = await rawExchange(s.port, [{ data: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{"model_name":` }], 3_000);
    assert.match(r.response, /^HTTP\/1\.1 413 /);
    assert.match(r.response, /request body of 10485760 bytes is over the limit of 1024 bytes/);
    assert.ok(r.closed, 'connection closed');
  });

  it('refuses a chunked body with 413 once it passes the limit', async (t) => {
    const s = await testServer(t, { serve: { body: { maxBytes: 1024 } } });
    const chunk = 'a'.repeat(800);
    const r = await rawExchange(s.port, [
      { data: `POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n` },
      { data: `${chunk.length.toString(16)}\r\n${chunk}\r\n`, afterMs: 20 },
      { data: `${chunk.length.toString(16)}\r\n${chunk}\r\n`, afterMs: 20 },
    ], 3_000);
    assert.match(r.response, /^HTTP\/1\.1 413 /);
    assert.match(r.response, /over the limit of 1024 bytes/);
  });

  it('times out a body that does not arrive (408) and closes the connection', async (t) => {
    const s = await testServer(t, { serve: { body: { maxBytes: 1 << 20, timeoutMs: 300 } } });
    const r = await rawExchange(s.port, [{ data: `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model` }], 5_000);
    assert.match(r.response, /^HTTP\/1\.1 408 /);
    assert.match(r.response, /request body not complete after \d+ ms/);
    assert.ok(r.closed);
    assert.ok(r.ms < 2_000, `answered after ${r.ms} ms`);
    assert.equal((await get(`${s.url}/health`)).status, 200);
  });
});

describe('authentication and rate limits', () => {
  it('API keys (hashed) with scopes per route; health always open, metrics open by configuration', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-keys-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'keys.json');
    const scorer = createApiKey(file, { id: 'scorer', scopes: ['predict'] });
    const reader = createApiKey(file, { id: 'reader', scopes: ['read'] });
    const s = await testServer(t, { serve: { auth: { apiKeysFile: file, open: ['metrics'] } } });
    const body = { model_name: 'm', features: {} };

    const none = await post(`${s.url}/predict`, body);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await post(`${s.url}/predict`, body, { authorization: 'Bearer rtml_wrong' })).status, 401);
    const forbidden = await post(`${s.url}/predict`, body, { 'x-api-key': reader });
    assert.equal(forbidden.status, 403);
    assert.match(forbidden.body.error as string, /predict/);
    assert.equal((await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } }, { authorization: `Bearer ${scorer}` })).status, 200);
    assert.equal((await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } }, { 'x-api-key': scorer })).status, 200);
    assert.equal((await get(`${s.url}/ready`)).status, 401);
    assert.equal((await get(`${s.url}/ready`, { 'x-api-key': reader })).status, 200);
    assert.equal((await get(`${s.url}/health`)).status, 200);
    assert.equal((await get(`${s.url}/metrics`)).status, 200);
  });

  it('JWT bearer tokens verified against a secret, with scopes from the token', async (t) => {
    const secret = 'a-test-secret-that-is-long-enough-for-hs256';
    const s = await testServer(t, { serve: { auth: { jwt: { secret, issuer: 'tests' } } } });
    const sign = (scope: string, issuer = 'tests') => new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setSubject('svc').setIssuer(issuer).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const body = { model_name: s.model, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } };
    assert.equal((await post(`${s.url}/predict`, body, { authorization: `Bearer ${await sign('predict read')}` })).status, 200);
    assert.equal((await post(`${s.url}/predict`, body, { authorization: `Bearer ${await sign('read')}` })).status, 403);
    assert.equal((await post(`${s.url}/predict`, body, { authorization: `Bearer ${await sign('predict', 'someone-else')}` })).status, 401);
  });

  it('rate limits per key: 429 with Retry-After once the burst is spent', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-keys-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'keys.json');
    const slow = createApiKey(file, { id: 'slow', scopes: ['predict'], rate: { perSecond: 0.5, burst: 3 } });
    const other = createApiKey(file, { id: 'other', scopes: ['predict'] });
    const s = await testServer(t, { serve: { auth: { apiKeysFile: file } } });
    const body = { model_name: s.model, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } };
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await post(`${s.url}/predict`, body, { 'x-api-key': slow });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(limited!.body.code, 'RTML_E_HTTP_RATE_LIMIT');
    assert.ok(Number(limited!.headers.get('retry-after')) >= 1);
    // Another key has its own bucket.
    assert.equal((await post(`${s.url}/predict`, body, { 'x-api-key': other })).status, 200);
  });
});
