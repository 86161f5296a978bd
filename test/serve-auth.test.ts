import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWTPayload } from 'jose';
import { RtmlError } from '../engine/errors.ts';
import type { ErrorCode } from '../engine/errors.ts';
import { SCOPES, createApiKey, hashApiKey, loadApiKeys } from '../serving/apiKeys.ts';
import { createAuthenticator } from '../serving/auth.ts';
import type { Authenticator, Principal } from '../serving/auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'rtml-serve-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
const tempFile = (name: string) => join(dir, `${++fileCount}-${name}`);

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long!';
const secretKey = new TextEncoder().encode(SECRET);

/** Asserts `fn` throws (synchronously) an RtmlError with `code` whose message matches `pattern`. */
function throwsRtml(fn: () => unknown, code: ErrorCode, pattern: RegExp): RtmlError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof RtmlError, `expected an RtmlError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

/** Awaits what `authenticate` returned and asserts it fails with an RtmlError `code` matching `pattern`. */
async function rejectsRtml(result: () => Principal | Promise<Principal>, code: ErrorCode, pattern: RegExp): Promise<RtmlError> {
  let caught: unknown;
  try {
    await result();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof RtmlError, `expected an RtmlError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
}

async function hs256(claims: JWTPayload, options: { key?: Uint8Array; exp?: number | string; alg?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt();
  jwt.setExpirationTime(options.exp ?? '1h');
  return jwt.sign(options.key ?? secretKey);
}

describe('serve auth: API keys', () => {
  const file = tempFile('keys.json');
  let predictKey = '';
  let readKey = '';
  let auth: Authenticator;

  before(() => {
    predictKey = createApiKey(file, { id: 'app1', scopes: ['predict', 'read'], rate: { perSecond: 100, burst: 200 } });
    readKey = createApiKey(file, { id: 'dash', scopes: ['read'] });
    auth = createAuthenticator({ apiKeysFile: file });
  });

  it('stores only the sha256 of generated keys, in a 0600 file', () => {
    assert.match(predictKey, /^rtml_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(predictKey) && !text.includes(readKey), 'plaintext key written to the key file');
    assert.deepEqual(JSON.parse(text), {
      keys: [
        { id: 'app1', sha256: hashApiKey(predictKey), scopes: ['predict', 'read'], rate: { perSecond: 100, burst: 200 } },
        { id: 'dash', sha256: hashApiKey(readKey), scopes: ['read'] },
      ],
    });
    if (process.platform !== 'win32') assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.notEqual(predictKey, readKey);
  });

  it('authenticates a good key synchronously, from x-api-key or a Bearer header', () => {
    assert.equal(auth.enabled, true);
    for (const [authorization, apiKey] of [['', predictKey], [`Bearer ${predictKey}`, ''], [`bearer   ${predictKey} `, '']]) {
      const principal = auth.authenticate('predict', authorization!, apiKey!);
      assert.ok(!isPromise(principal), 'an API key must be checked synchronously');
      assert.equal(principal.id, 'app1');
      assert.deepEqual([...principal.scopes].sort(), ['predict', 'read']);
      assert.deepEqual(principal.rate, { perSecond: 100, burst: 200 });
    }
    const dash = auth.authenticate('read', '', readKey);
    assert.ok(!isPromise(dash));
    assert.equal(dash.id, 'dash');
    assert.equal(dash.rate, undefined, 'a key without rate gets the server default');
  });

  it('refuses a wrong key with 401 without echoing it', () => {
    const wrong = `${predictKey.slice(0, -1)}${predictKey.endsWith('A') ? 'B' : 'A'}`;
    const err = throwsRtml(() => auth.authenticate('predict', '', wrong), 'RTML_E_HTTP_UNAUTHORIZED', /unknown API key/);
    assert.ok(!err.message.includes(wrong.slice(5, 20)));
    throwsRtml(() => auth.authenticate('predict', `Bearer ${wrong}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /unknown API key/);
  });

  it('refuses a key lacking the route scope with 403 naming the scope', () => {
    throwsRtml(() => auth.authenticate('predict', '', readKey), 'RTML_E_HTTP_FORBIDDEN', /"dash" lacks scope "predict".*has: read/);
    throwsRtml(() => auth.authenticate('ingest', `Bearer ${predictKey}`, ''), 'RTML_E_HTTP_FORBIDDEN', /lacks scope "ingest"/);
  });

  it('refuses missing or malformed credentials with 401 saying what is wrong', () => {
    throwsRtml(() => auth.authenticate('read', '', ''), 'RTML_E_HTTP_UNAUTHORIZED', /no credentials: send x-api-key/);
    throwsRtml(() => auth.authenticate('read', 'Basic dXNlcjpwYXNz', ''), 'RTML_E_HTTP_UNAUTHORIZED', /Bearer scheme, not Basic/);
    throwsRtml(() => auth.authenticate('read', 'Bearer', ''), 'RTML_E_HTTP_UNAUTHORIZED', /no token after "Bearer"/);
    const bare = throwsRtml(() => auth.authenticate('read', readKey, ''), 'RTML_E_HTTP_UNAUTHORIZED', /must be "Bearer <token>"/);
    assert.ok(!bare.message.includes(readKey.slice(0, 12)), 'a bare key in Authorization must not be echoed');
    throwsRtml(() => auth.authenticate('read', `Bearer ${readKey}`, readKey), 'RTML_E_HTTP_UNAUTHORIZED', /both Authorization and x-api-key/);
  });

  it('leaves open scopes open and everything open when nothing is configured', () => {
    const withOpen = createAuthenticator({ apiKeysFile: file, open: ['metrics'] });
    const anon = withOpen.authenticate('metrics', '', '');
    assert.ok(!isPromise(anon));
    assert.equal(anon.id, 'anonymous');
    throwsRtml(() => withOpen.authenticate('read', '', ''), 'RTML_E_HTTP_UNAUTHORIZED', /no credentials/);
    const off = createAuthenticator({});
    assert.equal(off.enabled, false);
    const everyone = off.authenticate('ingest', '', '');
    assert.ok(!isPromise(everyone));
    assert.equal(everyone.id, 'anonymous');
    assert.deepEqual([...everyone.scopes], [...SCOPES]);
    throwsRtml(() => createAuthenticator({ open: ['admin'] }), 'RTML_E_USAGE', /open scope "admin" is unknown/);
  });

  it('replaces the record of a re-created id: the old key stops working', () => {
    const f = tempFile('rotate.json');
    const first = createApiKey(f, { id: 'svc', scopes: ['ingest'] });
    const other = createApiKey(f, { id: 'other', scopes: ['metrics'] });
    const second = createApiKey(f, { id: 'svc', scopes: ['ingest', 'read'] });
    assert.deepEqual(loadApiKeys(f).map((r) => r.id), ['svc', 'other']);
    const a = createAuthenticator({ apiKeysFile: f });
    throwsRtml(() => a.authenticate('ingest', '', first), 'RTML_E_HTTP_UNAUTHORIZED', /unknown API key/);
    assert.equal((a.authenticate('read', '', second) as Principal).id, 'svc');
    assert.equal((a.authenticate('metrics', '', other) as Principal).id, 'other');
    throwsRtml(() => createApiKey(f, { id: 'x', scopes: ['admin'] }), 'RTML_E_USAGE', /unknown scope "admin"/);
    throwsRtml(() => createApiKey(f, { id: 'bad id', scopes: ['read'] }), 'RTML_E_USAGE', /key id "bad id" is invalid/);
  });

  it('refuses a key file with a bad entry at start-up, naming the file and the entry', () => {
    const good = { id: 'ok', sha256: hashApiKey('k1'), scopes: ['read'] };
    const cases: Array<[unknown, RegExp]> = [
      [{ keys: [good, { id: 'app3', sha256: hashApiKey('k3'), scopes: ['predict', 'admin'] }] }, /keys\[1\] \(id "app3"\): unknown scope "admin"/],
      [{ keys: [{ id: 'short', sha256: 'abc123', scopes: ['read'] }] }, /keys\[0\] \(id "short"\): "sha256" must be the 64-digit hex/],
      [{ keys: [good, { ...good, sha256: hashApiKey('k2') }] }, /keys\[1\] \(id "ok"\): id "ok" is also used by keys\[0\]/],
      [{ keys: [good, { ...good, id: 'twin' }] }, /keys\[1\] \(id "twin"\): same sha256 as keys\[0\]/],
      [{ keys: [{ ...good, scope: ['read'] }] }, /keys\[0\] \(id "ok"\): unknown field "scope"/],
      [{ keys: [{ ...good, scopes: [] }] }, /keys\[0\] \(id "ok"\): scopes must be a non-empty array/],
      [{ keys: [{ ...good, rate: { perSecond: -1, burst: 5 } }] }, /keys\[0\] \(id "ok"\): rate.perSecond must be a positive number/],
      [{ keys: [{ sha256: hashApiKey('k'), scopes: ['read'] }] }, /keys\[0\]: "id" must be/],
      [{ key: [] }, /unknown top-level field "key"/],
      [[good], /expected an object \{ "keys": \[...\] \}/],
    ];
    for (const [content, pattern] of cases) {
      const f = tempFile('bad.json');
      writeFileSync(f, JSON.stringify(content));
      const err = throwsRtml(() => createAuthenticator({ apiKeysFile: f }), 'RTML_E_USAGE', pattern);
      assert.ok(err.message.includes(`API key file ${f}`), err.message);
    }
    const notJson = tempFile('bad.json');
    writeFileSync(notJson, '{ "keys": [ ');
    throwsRtml(() => loadApiKeys(notJson), 'RTML_E_USAGE', /is not valid JSON/);
    throwsRtml(() => loadApiKeys(join(dir, 'missing.json')), 'RTML_E_USAGE', /cannot read API key file .*missing\.json/);
    throwsRtml(() => createApiKey(notJson, { id: 'x', scopes: ['read'] }), 'RTML_E_USAGE', /is not valid JSON/);
    assert.equal(readFileSync(notJson, 'utf8'), '{ "keys": [ ', 'a broken key file must not be overwritten');
  });
});

describe('serve auth: HS256 JWTs', () => {
  const auth = createAuthenticator({ jwt: { secret: SECRET, issuer: 'https://issuer.test', audience: 'rtml' } });
  const claims = { sub: 'alice', iss: 'https://issuer.test', aud: 'rtml' };

  it('accepts a valid token with a space-separated scope claim', async () => {
    const token = await hs256({ ...claims, scope: 'openid predict read' });
    const principal = await auth.authenticate('predict', `Bearer ${token}`, '');
    assert.equal(principal.id, 'jwt:alice');
    assert.deepEqual([...principal.scopes].sort(), ['predict', 'read'], 'unknown scopes (openid) are ignored');
    assert.equal(principal.rate, undefined);
  });

  it('accepts a scopes array claim, and refuses a scope the token lacks with 403', async () => {
    const token = await hs256({ ...claims, sub: 'bob', scopes: ['ingest'] });
    const principal = await auth.authenticate('ingest', `Bearer ${token}`, '');
    assert.equal(principal.id, 'jwt:bob');
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_HTTP_FORBIDDEN', /"jwt:bob" lacks scope "predict".*has: ingest/);
  });

  it('refuses an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    const token = await hs256({ ...claims, scope: 'predict' }, { exp: past });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /JWT expired at /);
  });

  it('refuses a token signed with another secret', async () => {
    const token = await hs256({ ...claims, scope: 'predict' }, { key: new TextEncoder().encode('another-secret-of-at-least-32-bytes-long') });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /signature verification failed/);
  });

  it('refuses a wrong issuer or audience, and a token without sub', async () => {
    const badIss = await hs256({ ...claims, iss: 'https://evil.test', scope: 'predict' });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${badIss}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /issuer does not match: expected "iss" "https:\/\/issuer.test"/);
    const badAud = await hs256({ ...claims, aud: 'someone-else', scope: 'predict' });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${badAud}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /audience does not match: expected "aud" "rtml"/);
    const noSub = await hs256({ iss: claims.iss, aud: claims.aud, scope: 'predict' });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${noSub}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /no "sub" claim/);
    const badScope = await hs256({ ...claims, scope: ['predict'] });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${badScope}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /"scope" claim must be a space-separated string/);
  });

  it('refuses bad JWT configuration at start-up', () => {
    throwsRtml(() => createAuthenticator({ jwt: { secret: 'short' } }), 'RTML_E_USAGE', /JWT secret is too short: 5 bytes/);
    throwsRtml(() => createAuthenticator({ jwt: {} }), 'RTML_E_USAGE', /needs a secret .* or a JWKS URL/);
    throwsRtml(() => createAuthenticator({ jwt: { jwksUrl: 'not a url' } }), 'RTML_E_USAGE', /JWKS URL "not a url" is not a valid URL/);
  });

  it('caches a verified token: the second call answers synchronously, until exp', async () => {
    let now = Date.now();
    const clocked = createAuthenticator({ jwt: { secret: SECRET }, now: () => now });
    const exp = Math.floor(now / 1000) + 60;
    const token = await hs256({ sub: 'carol', scope: 'predict' }, { exp });
    const first = clocked.authenticate('predict', `Bearer ${token}`, '');
    assert.ok(isPromise(first), 'a token seen for the first time is verified asynchronously');
    assert.equal((await first).id, 'jwt:carol');
    const second = clocked.authenticate('predict', `Bearer ${token}`, '');
    assert.ok(!isPromise(second), 'a cached token must be answered synchronously');
    assert.equal(second.id, 'jwt:carol');
    throwsRtml(() => clocked.authenticate('read', `Bearer ${token}`, ''), 'RTML_E_HTTP_FORBIDDEN', /lacks scope "read"/);
    now = exp * 1000 + 1;
    const late = clocked.authenticate('predict', `Bearer ${token}`, '');
    assert.ok(isPromise(late), 'past exp the token is verified again');
    await rejectsRtml(() => late, 'RTML_E_HTTP_UNAUTHORIZED', /JWT expired/);
    clocked.close();
  });

  it('remembers a failure for at most a second', async () => {
    let now = Date.now();
    const clocked = createAuthenticator({ jwt: { secret: SECRET }, now: () => now });
    const token = await hs256({ sub: 'mallory', scope: 'predict' }, { key: new TextEncoder().encode('x'.repeat(40)) });
    await rejectsRtml(() => clocked.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /signature/);
    throwsRtml(() => clocked.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /signature/);
    now += 1001;
    const again = clocked.authenticate('predict', `Bearer ${token}`, '');
    assert.ok(isPromise(again), 'a failure must not be remembered longer than a second');
    await rejectsRtml(() => again, 'RTML_E_HTTP_UNAUTHORIZED', /signature/);
  });

  it('shares one verification between concurrent first requests with the same token', async () => {
    const token = await hs256({ ...claims, sub: 'dave', scope: 'predict read' });
    const a = auth.authenticate('predict', `Bearer ${token}`, '');
    const b = auth.authenticate('read', `Bearer ${token}`, '');
    assert.ok(isPromise(a) && isPromise(b));
    const [pa, pb] = await Promise.all([a, b]);
    assert.equal(pa, pb, 'both callers get the one verified principal');
  });

  it('checks API keys and JWTs side by side', async () => {
    const file = tempFile('both.json');
    const key = createApiKey(file, { id: 'k', scopes: ['metrics'] });
    const both = createAuthenticator({ apiKeysFile: file, jwt: { secret: SECRET } });
    assert.equal((both.authenticate('metrics', `Bearer ${key}`, '') as Principal).id, 'k');
    const token = await hs256({ sub: 'erin', scope: 'metrics' });
    assert.equal((await both.authenticate('metrics', `Bearer ${token}`, '')).id, 'jwt:erin');
    throwsRtml(() => both.authenticate('metrics', '', ''), 'RTML_E_HTTP_UNAUTHORIZED', /Bearer <JWT or API key> or x-api-key/);
  });
});

describe('serve auth: JWTs verified against a JWKS URL', () => {
  let server: Server;
  let jwksUrl = '';
  let fetches = 0;
  let signing: CryptoKey;
  let stranger: CryptoKey;

  before(async () => {
    const pair = await generateKeyPair('RS256');
    signing = pair.privateKey;
    stranger = (await generateKeyPair('RS256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      fetches++;
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const rs256 = (key: CryptoKey, claims: JWTPayload, kid = 'k1') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuedAt().setExpirationTime('10m').sign(key);

  it('verifies an RS256 token with the served key, fetching the JWKS once', async () => {
    const auth = createAuthenticator({ jwt: { jwksUrl, audience: 'rtml' } });
    const token = await rs256(signing, { sub: 'svc-1', aud: 'rtml', scopes: ['predict', 'ingest'] });
    const principal = await auth.authenticate('ingest', `Bearer ${token}`, '');
    assert.equal(principal.id, 'jwt:svc-1');
    assert.deepEqual([...principal.scopes].sort(), ['ingest', 'predict']);
    const other = await rs256(signing, { sub: 'svc-2', aud: 'rtml', scope: 'predict' });
    assert.equal((await auth.authenticate('predict', `Bearer ${other}`, '')).id, 'jwt:svc-2');
    assert.equal(fetches, 1, 'the JWKS is fetched once and kept');
    const cached = auth.authenticate('predict', `Bearer ${token}`, '');
    assert.ok(!isPromise(cached));
  });

  it('refuses a token signed by another key, and an HS256 token when only a JWKS is configured', async () => {
    const auth = createAuthenticator({ jwt: { jwksUrl } });
    const forged = await rs256(stranger, { sub: 'svc-1', scope: 'predict' });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${forged}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /signature verification failed/);
    const unknownKid = await rs256(stranger, { sub: 'svc-1', scope: 'predict' }, 'k2');
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${unknownKid}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /key not in the JWKS/);
    const hmac = await hs256({ sub: 'svc-1', scope: 'predict' });
    await rejectsRtml(() => auth.authenticate('predict', `Bearer ${hmac}`, ''), 'RTML_E_HTTP_UNAUTHORIZED', /algorithm not accepted/);
  });

  it('answers 503 when the JWKS cannot be fetched', async () => {
    const auth = createAuthenticator({ jwt: { jwksUrl: jwksUrl.replace('jwks.json', 'nothing-here') } });
    const token = await rs256(signing, { sub: 'svc-1', scope: 'predict' });
    const err = await rejectsRtml(() => auth.authenticate('predict', `Bearer ${token}`, ''), 'RTML_E_UNAVAILABLE', /cannot fetch the JWKS from http:\/\/127\.0\.0\.1/);
    assert.ok(!err.message.includes(token));
  });
});
