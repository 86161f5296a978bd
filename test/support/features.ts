import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';

/** The services the feature store tests use (override with RTML_TEST_REDIS / RTML_TEST_POSTGRES). */
export const REDIS_URI = process.env.RTML_TEST_REDIS ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URI = process.env.RTML_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

let counter = 0;
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** A view name no other test (or test run) uses: `t_<prefix>_<run>_<n>`. */
export function uniqueView(prefix: string): string {
  return `t_${prefix}_${run}_${counter++}`;
}

/** Deletes the Redis hashes of `views` after the test. */
export function cleanRedis(t: TestContext, ...views: string[]): void {
  t.after(async () => {
    const redis = new Redis(REDIS_URI);
    try {
      for (const view of views) {
        const keys = await redis.keys(`rtml:fv:${view}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
    } finally {
      redis.disconnect();
    }
  });
}

/** Drops the tables and registry entries of `views` in Postgres after the test. */
export function cleanPostgres(t: TestContext, ...views: string[]): void {
  t.after(async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URI });
    await client.connect();
    try {
      for (const view of views) {
        await client.query(`DROP TABLE IF EXISTS "fv_${view}"`);
        await client.query("DELETE FROM rtml_feature_views WHERE name = $1 AND to_regclass('rtml_feature_views') IS NOT NULL", [view]).catch(() => {});
      }
    } finally {
      await client.end();
    }
  });
}

/** A temp dir removed after the test (or after the suite, given a `before`/`after` pair). */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rtml-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A throwaway redis-server that the test starts and stops: without persistence, or with `dir`,
 * persisting every write (AOF, fsync always) so a restart keeps what was written.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir?: string,
  ) {}

  get uri(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const persistence = this.dir === undefined ? ['--appendonly', 'no'] : ['--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always'];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    });
    child.stdout!.resume();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    this.child = undefined;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
