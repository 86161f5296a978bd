/**
 * API keys for `rtml serve`, stored hashed.
 *
 * The key file holds only the SHA-256 digest of each key, never the key itself:
 *
 *   { "keys": [ { "id": "app1", "sha256": "<hex>", "scopes": ["predict", "read"],
 *                 "rate": { "perSecond": 100, "burst": 200 } } ] }
 *
 * `rate` is optional: a key without it gets the server's default limit (none if none is set).
 * A presented key is hashed and looked up by digest, so no comparison ever runs on the plaintext.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { RtmlError, errorMessage } from '../engine/errors.ts';
import { parseRateLimit } from './rateLimit.ts';
import type { RateLimit } from './rateLimit.ts';

/**
 * What a credential may do: `predict` (POST /predict, /predict/batch, /v2/models/{name}/infer, /ws),
 * `read` (GET /v2/models/*, /ready, /v2/health/*), `ingest` (POST /events/*), `metrics` (GET /metrics).
 */
export const SCOPES = ['predict', 'read', 'ingest', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

export interface ApiKeyRecord {
  readonly id: string;
  /** Lower-case hex SHA-256 of the key. */
  readonly sha256: string;
  readonly scopes: readonly Scope[];
  readonly rate?: RateLimit;
}

/** Prefix of generated keys: makes them recognisable (secret scanners, logs) and never a JWT (no dots). */
export const API_KEY_PREFIX = 'rtml_';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const RECORD_FIELDS = new Set(['id', 'sha256', 'scopes', 'rate']);

/** Lower-case hex SHA-256 of an API key, as stored in the key file. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Checks an id and scopes given on the command line; throws RTML_E_USAGE. */
function checkIdAndScopes(id: string, scopes: readonly string[], where: string): Scope[] {
  if (!ID.test(id)) {
    throw new RtmlError(
      'RTML_E_USAGE',
      `${where}: key id ${JSON.stringify(id)} is invalid (1–128 characters: letters, digits and . _ : @ -, starting with a letter or digit)`,
    );
  }
  return checkScopes(scopes, where);
}

function checkScopes(scopes: unknown, where: string): Scope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw new RtmlError('RTML_E_USAGE', `${where}: scopes must be a non-empty array of ${SCOPES.join(', ')}`);
  }
  const seen = new Set<Scope>();
  for (const scope of scopes) {
    if (!isScope(scope)) {
      throw new RtmlError('RTML_E_USAGE', `${where}: unknown scope ${JSON.stringify(scope)} (known scopes: ${SCOPES.join(', ')})`);
    }
    if (seen.has(scope)) throw new RtmlError('RTML_E_USAGE', `${where}: scope "${scope}" is listed twice`);
    seen.add(scope);
  }
  return [...seen];
}

/** Validates the parsed content of key file `file`; throws RTML_E_USAGE naming the file and the bad entry. */
function parseKeyFile(content: unknown, file: string): ApiKeyRecord[] {
  const prefix = `API key file ${file}`;
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new RtmlError('RTML_E_USAGE', `${prefix}: expected an object { "keys": [...] }`);
  }
  for (const field of Object.keys(content)) {
    if (field !== 'keys') throw new RtmlError('RTML_E_USAGE', `${prefix}: unknown top-level field "${field}" (expected only "keys")`);
  }
  const keys = (content as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new RtmlError('RTML_E_USAGE', `${prefix}: "keys" must be an array`);
  const records: ApiKeyRecord[] = [];
  const ids = new Map<string, number>();
  const digests = new Map<string, number>();
  keys.forEach((entry: unknown, i) => {
    let where = `${prefix}: keys[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new RtmlError('RTML_E_USAGE', `${where}: expected an object { "id", "sha256", "scopes", "rate"? }`);
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.id !== 'string' || !ID.test(e.id)) {
      throw new RtmlError(
        'RTML_E_USAGE',
        `${where}: "id" must be 1–128 characters (letters, digits and . _ : @ -, starting with a letter or digit), got ${JSON.stringify(e.id)}`,
      );
    }
    const id = e.id;
    where += ` (id "${id}")`;
    for (const field of Object.keys(e)) {
      if (!RECORD_FIELDS.has(field)) {
        throw new RtmlError('RTML_E_USAGE', `${where}: unknown field "${field}" (expected id, sha256, scopes, rate)`);
      }
    }
    const other = ids.get(id);
    if (other !== undefined) throw new RtmlError('RTML_E_USAGE', `${where}: id "${id}" is also used by keys[${other}]`);
    ids.set(id, i);
    if (typeof e.sha256 !== 'string' || !SHA256_HEX.test(e.sha256.toLowerCase())) {
      throw new RtmlError('RTML_E_USAGE', `${where}: "sha256" must be the 64-digit hex SHA-256 of the key (the key itself is never stored)`);
    }
    const sha256 = e.sha256.toLowerCase();
    const same = digests.get(sha256);
    if (same !== undefined) throw new RtmlError('RTML_E_USAGE', `${where}: same sha256 as keys[${same}] (one key cannot have two ids)`);
    digests.set(sha256, i);
    const scopes = checkScopes(e.scopes, where);
    const record: ApiKeyRecord =
      e.rate === undefined ? { id, sha256, scopes } : { id, sha256, scopes, rate: parseRateLimit(e.rate, where) };
    records.push(record);
  });
  return records;
}

/** Reads and strictly validates key file `file`. Throws RTML_E_USAGE naming the file and the bad entry. */
export function loadApiKeys(file: string): ApiKeyRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `cannot read API key file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `API key file ${file} is not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
  return parseKeyFile(content, file);
}

/** Writes `text` to `file` atomically (temporary file in the same directory, fsync, rename) with mode 0600. */
function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, 0o600); // whatever the umask
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * Generates a new API key for `options.id`, records its SHA-256 (with the scopes and optional rate
 * limit) in key file `file` — creating the file, or replacing the record with the same id — and
 * returns the key in plain text. It is shown once: only its digest is stored.
 * An existing file must be valid (it is never silently overwritten). Throws RTML_E_USAGE.
 */
export function createApiKey(file: string, options: { id: string; scopes: readonly string[]; rate?: RateLimit }): string {
  const where = `API key ${JSON.stringify(options.id)}`;
  const scopes = checkIdAndScopes(options.id, options.scopes, where);
  const rate = options.rate === undefined ? undefined : parseRateLimit(options.rate, where);
  let records: ApiKeyRecord[] = [];
  try {
    records = loadApiKeys(file);
  } catch (err) {
    if ((err as { cause?: { code?: unknown } }).cause?.code !== 'ENOENT') throw err;
  }
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  const record: ApiKeyRecord = rate === undefined
    ? { id: options.id, sha256: hashApiKey(key), scopes }
    : { id: options.id, sha256: hashApiKey(key), scopes, rate };
  const at = records.findIndex((r) => r.id === options.id);
  if (at >= 0) records[at] = record;
  else records.push(record);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeAtomically(file, `${JSON.stringify({ keys: records }, null, 2)}\n`);
  } catch (err) {
    throw new RtmlError('RTML_E_USAGE', `cannot write API key file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return key;
}
