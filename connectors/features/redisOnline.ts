import { Redis, type Result } from 'ioredis';
import type { FeatureRow, FeatureValue, FeatureView } from '../../engine/features.ts';
import { RtmlError, errorMessage } from '../../engine/errors.ts';
import { StoreUnreachableError, redactUri, unreachableReason } from '../../storage/index.ts';
import { onlineKey, type OnlineFeatures, type OnlineStore } from './stores.ts';

/**
 * The online store on Redis: one hash per entity and view, key `rtml:fv:<view>:<entity>`, fields
 * the feature names plus `__time` (the row's time, epoch ms). A null value is stored as the empty
 * string. Every row goes through one Lua script (EVALSHA) that keeps the stored values when they
 * are newer, so results of late events arriving out of order never overwrite fresher values; a
 * batch is one pipeline. A lookup is one round trip: HGETALL for one entity, a pipeline of
 * HGETALL for many.
 *
 * Commands fail fast while Redis is unreachable (no offline queue, one retry per request): the
 * writer above backs off, logs and retries, and ioredis reconnects in the background.
 */

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** KEYS: the hash; ARGV: time, ttl ms ('0' for none), then field, value pairs. 1 if written, 0 if older. */
    rtmlPutFeatures(key: string, time: string, ttl: string, ...fieldsAndValues: string[]): Result<number, Context>;
  }
}

const PUT_FEATURES = `
local held = redis.call('HGET', KEYS[1], '__time')
if held and tonumber(held) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], '__time', ARGV[1], unpack(ARGV, 3))
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('PERSIST', KEYS[1]) end
return 1`;

const TIME_FIELD = '__time';
const NULL_MARKER = '';

export interface RedisOnlineStore extends OnlineStore {
  /** The ioredis client (for tests and benchmarks). */
  readonly client: Redis;
}

/** Opens (lazily, at the first command) the online store at `redis://host:port[/db]`. */
export function redisOnline(uri: string): RedisOnlineStore {
  const description = redactUri(uri);
  const client = new Redis(uri, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // Reconnect quickly: the writer's own backoff decides how often commands are tried.
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  client.defineCommand('rtmlPutFeatures', { numberOfKeys: 1, lua: PUT_FEATURES });
  let lastError: string | undefined;
  client.on('error', (err: unknown) => {
    lastError = unreachableReason(err) ?? String(err);
  });
  client.on('ready', () => {
    lastError = undefined;
  });
  client.on('close', () => {
    lastError ??= 'connection closed';
  });

  /** Resolves once the connection is ready; throws StoreUnreachableError while it is not. */
  async function ready(): Promise<void> {
    switch (client.status) {
      case 'ready':
        return;
      case 'wait':
        try {
          await client.connect();
        } catch (err) {
          // The socket's own error (ECONNREFUSED) is emitted just after connect() rejects.
          await new Promise((resolve) => setImmediate(resolve));
          throw new StoreUnreachableError(description, lastError ?? unreachableReason(err) ?? 'connect failed', { cause: err });
        }
        return;
      case 'connecting':
      case 'connect':
        return waitForReady();
      case 'end':
        throw new RtmlError('RTML_E_STORE', `feature store ${description} is closed`);
      default: // 'reconnecting': the last attempt failed and the next one is scheduled.
        throw new StoreUnreachableError(description, lastError ?? client.status);
    }
  }

  function waitForReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: unknown) => {
        client.off('ready', onReady);
        client.off('error', done);
        client.off('end', onEnd);
        if (err === undefined) resolve();
        else reject(new StoreUnreachableError(description, unreachableReason(err) ?? String(err), { cause: err }));
      };
      const onReady = () => done();
      const onEnd = () => done(lastError ?? 'connection ended');
      client.once('ready', onReady);
      client.once('error', done);
      client.once('end', onEnd);
    });
  }

  /** A command failure as StoreUnreachableError (retried by the writer) or RTML_E_STORE. */
  function failure(err: unknown): unknown {
    if (err instanceof RtmlError) return err;
    const reason = unreachableReason(err);
    if (reason !== undefined) return new StoreUnreachableError(description, lastError ?? reason, { cause: err });
    return new RtmlError('RTML_E_STORE', `feature store ${description}: ${errorMessage(err)}`, { cause: err });
  }

  return {
    description,
    client,
    async write(view: FeatureView, rows: readonly FeatureRow[]): Promise<void> {
      if (rows.length === 0) return;
      if (client.status !== 'ready') await ready();
      const ttl = Number.isFinite(view.ttl) ? String(Math.max(1, Math.round(view.ttl))) : '0';
      const pipeline = client.pipeline();
      // Newer wins, and the last row wins at equal times: so only each entity's last newest row
      // can change Redis, and the others need not be sent.
      for (const row of newestPerEntity(rows)) {
        const args: string[] = [];
        for (const f of view.features) {
          const v = row.values[f];
          args.push(f, v === null || v === undefined ? NULL_MARKER : String(v));
        }
        pipeline.rtmlPutFeatures(onlineKey(view.name, row.entity), String(row.time), ttl, ...args);
      }
      let results: [Error | null, unknown][] | null;
      try {
        results = await pipeline.exec();
      } catch (err) {
        throw failure(err);
      }
      for (const [err] of results ?? []) if (err) throw failure(err);
    },
    async get(view: string, entities: readonly string[]): Promise<(OnlineFeatures | null)[]> {
      if (entities.length === 0) return [];
      if (client.status !== 'ready') await ready();
      try {
        if (entities.length === 1) return [parse(await client.hgetall(onlineKey(view, entities[0]!)))];
        // One HGETALL per entity, written together: one round trip. Not an ioredis Pipeline: each
        // Pipeline defines an accessor of its own, whose map lives in the old generation until a
        // full collection and keeps the pipeline — and the requests its replies answer — alive
        // through every scavenge. Serving at 3k requests/s, that was 5-8 MB surviving each
        // scavenge and 10-50 ms pauses (bench/serve.ts GC line). A Lua script returning every
        // hash costs the server more (+15 % at p50 for 100 keys in bench/online-lookup.ts).
        // The socket is corked while they are written: one write for all of them.
        const stream = client.stream;
        stream.cork();
        let replies: Promise<Record<string, string>>[];
        try {
          replies = entities.map((entity) => client.hgetall(onlineKey(view, entity)));
        } finally {
          stream.uncork();
        }
        return (await Promise.all(replies)).map(parse);
      } catch (err) {
        throw failure(err);
      }
    },
    async close(): Promise<void> {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}

function newestPerEntity(rows: readonly FeatureRow[]): Iterable<FeatureRow> {
  if (rows.length === 1) return rows;
  const newest = new Map<string, FeatureRow>();
  for (const row of rows) {
    const held = newest.get(row.entity);
    if (held === undefined || row.time >= held.time) newest.set(row.entity, row);
  }
  return newest.values();
}

function parse(hash: Record<string, string>): OnlineFeatures | null {
  const time = hash[TIME_FIELD];
  if (time === undefined) return null;
  const values: Record<string, FeatureValue> = {};
  for (const field in hash) {
    if (field === TIME_FIELD) continue;
    const text = hash[field]!;
    values[field] = text === NULL_MARKER ? null : Number(text);
  }
  return { time: Number(time), values };
}
