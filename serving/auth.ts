/**
 * Authentication and scope checks for `rtml serve`.
 *
 * Credentials, either header:
 * - `x-api-key: <key>` — an API key from the key file (see apiKeys.ts);
 * - `Authorization: Bearer <token>` — a JWT when it looks like one (three dot-separated base64url parts)
 *   and JWT is configured, else an API key.
 *
 * JWTs are verified with jose: HS256/384/512 against `jwt.secret`, RS*, PS*, ES* and EdDSA against the
 * keys of `jwt.jwksUrl`. Their scopes come from the `scope` claim (space-separated, OAuth 2 style)
 * and/or the `scopes` array claim (scopes rtml does not know are ignored: a token may serve several
 * services); the principal is `jwt:<sub>` and gets the server's default rate limit.
 *
 * Hot path: an API key costs one SHA-256 and a Map lookup; a JWT already verified costs a Map
 * lookup (cached until its `exp`), and `authenticate` then answers synchronously. Only a JWT seen
 * for the first time returns a Promise. Failures are remembered for at most a second.
 */
import { errors, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import { SCOPES, hashApiKey, isScope, loadApiKeys } from './apiKeys.ts';
import type { Scope } from './apiKeys.ts';
import type { RateLimit } from './rateLimit.ts';

export interface Principal {
  readonly id: string;
  readonly scopes: ReadonlySet<string>;
  /** The principal's own rate limit (API keys with `rate`); absent: the server's default. */
  readonly rate?: RateLimit;
}

export interface AuthOptions {
  /** Key file of hashed API keys (see apiKeys.ts). */
  apiKeysFile?: string;
  /**
   * JWT bearer tokens: `secret` (UTF-8, ≥ 32 bytes) for HS256/384/512 and/or `jwksUrl` for RS*, PS*,
   * ES* and EdDSA; `issuer` and `audience`, when set, must match the `iss` and `aud` claims.
   */
  jwt?: { secret?: string; jwksUrl?: string; issuer?: string; audience?: string };
  /** Scopes that need no credentials at all, e.g. ['metrics']. */
  open?: readonly string[];
  /** Wall clock in ms since the epoch (default Date.now), for `exp`/`nbf` and the caches; injectable for tests. */
  now?: () => number;
}

export interface Authenticator {
  /** false when neither keys nor JWT are configured: everything is open (the server logs a warning). */
  readonly enabled: boolean;
  /**
   * Checks credentials for a route needing `scope`. `authorization` is the raw Authorization header
   * value ('' when absent), `apiKey` the raw x-api-key header value ('' when absent).
   * Returns the Principal synchronously when it can (API key; JWT already verified and cached), else
   * a Promise (JWT seen for the first time). Throws, or rejects with, RtmlError
   * RTML_E_HTTP_UNAUTHORIZED (401: no or invalid credentials), RTML_E_HTTP_FORBIDDEN (403: valid
   * credentials without `scope`), or RTML_E_UNAVAILABLE (503: the JWKS endpoint cannot be reached).
   */
  authenticate(scope: Scope, authorization: string, apiKey: string): Principal | Promise<Principal>;
  /** Drops the caches; the authenticator must not be used afterwards. */
  close(): void;
}

/** The principal of requests when authentication is off, or for an open scope: may do everything. */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', scopes: new Set<string>(SCOPES) });

/** Verified JWTs kept (by token string) at most; the oldest entry goes first. */
const JWT_CACHE_MAX = 10_000;
/** A verified JWT without `exp` is re-verified after this long. */
const JWT_NO_EXP_TTL_MS = 5 * 60_000;
/** Tokens longer than this are verified every time rather than cached (bounds the cache's memory). */
const JWT_CACHE_MAX_TOKEN_CHARS = 8192;
/** Failed tokens remembered (to spare repeated signature checks) at most, and for how long. */
const FAILURE_CACHE_MAX = 1000;
const FAILURE_TTL_MS = 1000;
/** Minimum HMAC secret length in bytes (RFC 7518 §3.2: at least the hash size, 256 bits for HS256). */
const MIN_SECRET_BYTES = 32;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Other HTTP authentication schemes, named back in the 401 message (anything else might be a secret). */
const KNOWN_SCHEMES = new Set(['basic', 'digest', 'negotiate', 'ntlm', 'token', 'apikey', 'api-key', 'dpop', 'hoba', 'mutual', 'aws4-hmac-sha256']);
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

interface CachedJwt {
  readonly principal: Principal;
  /** Clock reading (ms) after which the token is verified again (its `exp`). */
  readonly until: number;
}

interface Failure {
  readonly error: RtmlError;
  readonly until: number;
}

function unauthorized(message: string): RtmlError {
  return new RtmlError('RTML_E_HTTP_UNAUTHORIZED', message);
}

function checkScope(principal: Principal, scope: Scope, kind: string): Principal {
  if (principal.scopes.has(scope)) return principal;
  const has = [...principal.scopes].filter(isScope);
  throw new RtmlError(
    'RTML_E_HTTP_FORBIDDEN',
    `${kind} "${principal.id}" lacks scope "${scope}", which this route needs (it has: ${has.length > 0 ? has.join(', ') : 'none'})`,
  );
}

/** Scopes granted by a verified JWT's `scope` (space-separated string) and `scopes` (array) claims. */
function jwtScopes(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  const { scope, scopes: list } = payload as { scope?: unknown; scopes?: unknown };
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw unauthorized('JWT "scope" claim must be a space-separated string');
    for (const s of scope.split(/\s+/)) if (isScope(s)) scopes.add(s);
  }
  if (list !== undefined) {
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw unauthorized('JWT "scopes" claim must be an array of strings');
    for (const s of list) if (isScope(s)) scopes.add(s);
  }
  return scopes;
}

/** Translates a jose verification failure into a precise 401 (or 503 when the JWKS cannot be fetched). */
function jwtFailure(err: unknown, options: AuthOptions['jwt'] & object): RtmlError {
  if (err instanceof RtmlError) return err;
  if (err instanceof errors.JWTExpired) {
    const exp = err.payload.exp;
    return unauthorized(`JWT expired${typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : ''}`);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (claim === 'iss') return unauthorized(`JWT issuer ${reason === 'missing' ? 'missing' : 'does not match'}: expected "iss" ${JSON.stringify(options.issuer)}`);
    if (claim === 'aud') return unauthorized(`JWT audience ${reason === 'missing' ? 'missing' : 'does not match'}: expected "aud" ${JSON.stringify(options.audience)}`);
    if (claim === 'nbf') return unauthorized('JWT not yet valid ("nbf" is in the future)');
    return unauthorized(`JWT claim "${claim}" is invalid (${reason}): ${err.message}`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized('JWT signature verification failed');
  if (err instanceof errors.JOSEAlgNotAllowed) {
    const configured = [options.secret !== undefined ? 'HS256/384/512 (secret)' : '', options.jwksUrl !== undefined ? 'RS*, PS*, ES*, EdDSA (JWKS)' : '']
      .filter(Boolean)
      .join(', ');
    return unauthorized(`JWT signing algorithm not accepted here (configured: ${configured})`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return unauthorized('JWT signed with a key not in the JWKS (no key matches its "kid"/"alg")');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthorized('JWT does not select one key of the JWKS (several match; give it a "kid")');
  if (err instanceof JwksUnavailable) {
    return new RtmlError('RTML_E_UNAVAILABLE', `cannot fetch the JWKS from ${options.jwksUrl} to verify the JWT: ${errorMessage(err.cause)}`, {
      cause: err.cause,
    });
  }
  if (err instanceof errors.JOSEError) return unauthorized(`JWT is invalid: ${err.message}`);
  return unauthorized(`JWT cannot be verified: ${errorMessage(err)}`);
}

/** The JWKS endpoint could not be fetched or parsed: the server's problem, not the client's. */
class JwksUnavailable extends Error {}

export function createAuthenticator(options: AuthOptions): Authenticator {
  const now = options.now ?? Date.now;

  const open = new Set<Scope>();
  for (const scope of options.open ?? []) {
    if (!isScope(scope)) throw new RtmlError('RTML_E_USAGE', `open scope ${JSON.stringify(scope)} is unknown (known scopes: ${SCOPES.join(', ')})`);
    open.add(scope);
  }

  // API keys: hex digest → principal.
  let keys: Map<string, Principal> | undefined;
  if (options.apiKeysFile !== undefined) {
    if (options.apiKeysFile === '') throw new RtmlError('RTML_E_USAGE', 'API key file path is empty');
    keys = new Map();
    for (const r of loadApiKeys(options.apiKeysFile)) {
      keys.set(r.sha256, Object.freeze(r.rate === undefined ? { id: r.id, scopes: new Set<string>(r.scopes) } : { id: r.id, scopes: new Set<string>(r.scopes), rate: r.rate }));
    }
  }

  // JWT: key resolution per algorithm, so an HMAC secret can never verify an asymmetric token or vice versa.
  const jwt = options.jwt;
  let getKey: JWTVerifyGetKey | undefined;
  let verifyOptions: JWTVerifyOptions | undefined;
  if (jwt !== undefined) {
    const { secret, jwksUrl, issuer, audience } = jwt;
    if (secret === undefined && jwksUrl === undefined) throw new RtmlError('RTML_E_USAGE', 'JWT authentication needs a secret (HS256/384/512) or a JWKS URL');
    let hmacKey: Uint8Array | undefined;
    if (secret !== undefined) {
      hmacKey = new TextEncoder().encode(secret);
      if (hmacKey.length < MIN_SECRET_BYTES) {
        throw new RtmlError('RTML_E_USAGE', `JWT secret is too short: ${hmacKey.length} bytes, at least ${MIN_SECRET_BYTES} needed for HS256`);
      }
    }
    let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
    if (jwksUrl !== undefined) {
      let url: URL;
      try {
        url = new URL(jwksUrl);
      } catch {
        throw new RtmlError('RTML_E_USAGE', `JWKS URL ${JSON.stringify(jwksUrl)} is not a valid URL`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new RtmlError('RTML_E_USAGE', `JWKS URL ${JSON.stringify(jwksUrl)} must be http: or https:`);
      }
      jwks = createRemoteJWKSet(url);
    }
    if (issuer === '') throw new RtmlError('RTML_E_USAGE', 'JWT issuer is empty (omit it to accept any issuer)');
    if (audience === '') throw new RtmlError('RTML_E_USAGE', 'JWT audience is empty (omit it to accept any audience)');
    const algorithms = [...(hmacKey ? HMAC_ALGS : []), ...(jwks ? ASYMMETRIC_ALGS : [])];
    verifyOptions = { algorithms, ...(issuer !== undefined ? { issuer } : {}), ...(audience !== undefined ? { audience } : {}) };
    getKey = async (header, token) => {
      if (header.alg !== undefined && HMAC_ALGS.includes(header.alg)) {
        if (hmacKey === undefined) throw new errors.JOSEAlgNotAllowed(`"${header.alg}" is not allowed`);
        return hmacKey;
      }
      if (jwks === undefined) throw new errors.JOSEAlgNotAllowed(`"${header.alg}" is not allowed`);
      try {
        return await jwks(header, token);
      } catch (err) {
        // Token problems (no or several matching keys, unsupported key) are the client's; fetching is ours.
        if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
        throw new JwksUnavailable('JWKS unavailable', { cause: err });
      }
    };
  }

  const enabled = keys !== undefined || getKey !== undefined;
  const verified = new Map<string, CachedJwt>();
  const pending = new Map<string, Promise<Principal>>();
  const failures = new Map<string, Failure>();

  function missingCredentials(): RtmlError {
    const how =
      keys && getKey ? 'Authorization: Bearer <JWT or API key> or x-api-key: <API key>'
      : keys ? 'x-api-key: <API key> or Authorization: Bearer <API key>'
      : 'Authorization: Bearer <JWT>';
    return unauthorized(`no credentials: send ${how}`);
  }

  function byApiKey(key: string, scope: Scope): Principal {
    if (keys === undefined) throw unauthorized('API keys are not enabled on this server: send Authorization: Bearer <JWT>');
    const principal = keys.get(hashApiKey(key));
    if (principal === undefined) throw unauthorized('unknown API key');
    return checkScope(principal, scope, 'API key');
  }

  /** Makes room for one more entry in a bounded cache by dropping its oldest. */
  function makeRoom(map: Map<string, unknown>, max: number): void {
    if (map.size >= max) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  }

  async function verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, getKey!, { ...verifyOptions, currentDate: new Date(now()) });
      if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthorized('JWT has no "sub" claim (the principal)');
      const principal: Principal = Object.freeze({ id: `jwt:${payload.sub}`, scopes: jwtScopes(payload) });
      if (token.length <= JWT_CACHE_MAX_TOKEN_CHARS) {
        const until = typeof payload.exp === 'number' ? payload.exp * 1000 : now() + JWT_NO_EXP_TTL_MS;
        makeRoom(verified, JWT_CACHE_MAX);
        verified.set(token, { principal, until });
      }
      return principal;
    } catch (err) {
      const error = jwtFailure(err, jwt!);
      if (token.length <= JWT_CACHE_MAX_TOKEN_CHARS) {
        makeRoom(failures, FAILURE_CACHE_MAX);
        failures.set(token, { error, until: now() + FAILURE_TTL_MS });
      }
      throw error;
    } finally {
      pending.delete(token);
    }
  }

  function byJwt(token: string, scope: Scope): Principal | Promise<Principal> {
    const t = now();
    const hit = verified.get(token);
    if (hit !== undefined) {
      if (t < hit.until) return checkScope(hit.principal, scope, 'JWT subject');
      verified.delete(token);
    }
    const failed = failures.get(token);
    if (failed !== undefined) {
      if (t < failed.until) throw failed.error;
      failures.delete(token);
    }
    let verifying = pending.get(token);
    if (verifying === undefined) {
      verifying = verify(token);
      pending.set(token, verifying);
    }
    return verifying.then((principal) => checkScope(principal, scope, 'JWT subject'));
  }

  return {
    enabled,
    authenticate(scope: Scope, authorization: string, apiKey: string): Principal | Promise<Principal> {
      if (!enabled || open.has(scope)) return ANONYMOUS;
      if (authorization !== '') {
        if (apiKey !== '') throw unauthorized('both Authorization and x-api-key headers were sent: send one');
        const match = BEARER.exec(authorization);
        if (match === null) {
          // Name the scheme only when it is a known one: a bare credential in the header must never be echoed.
          const scheme = /^\S+/.exec(authorization.trim())?.[0] ?? '';
          throw unauthorized(
            /^bearer$/i.test(scheme) ? 'Authorization header has no token after "Bearer"'
            : KNOWN_SCHEMES.has(scheme.toLowerCase()) ? `Authorization header must use the Bearer scheme, not ${scheme}`
            : 'Authorization header must be "Bearer <token>"',
          );
        }
        const token = match[1]!;
        return getKey !== undefined && JWT_SHAPE.test(token) ? byJwt(token, scope) : byApiKey(token, scope);
      }
      if (apiKey !== '') return byApiKey(apiKey.trim(), scope);
      throw missingCredentials();
    },
    close(): void {
      verified.clear();
      failures.clear();
      pending.clear();
    },
  };
}
