import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { redisOnline } from '../../connectors/features/redisOnline.ts';
import { openRegistry, registryModels } from '../../models/registry/index.ts';
import { SyncOnnxSession } from '../../models/onnx/index.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../serving/server.ts';
import { cleanRedis, POSTGRES_URI, REDIS_URI, uniqueView } from './features.ts';
import { cleanModels, modelBytes, uniqueModel, writeModel } from './registry.ts';

/**
 * A real server for the serving tests: a model registered in Postgres and promoted, features of
 * its entities in Redis, and `startServer` on a free port, all removed after the test.
 */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly server: RunningServer;
  readonly model: string;
  readonly view: string;
  readonly features: string[];
  readonly artifacts: string;
  /** Scores one row exactly as the model does (the same ONNX bytes, in this process). */
  expected(version: number, row: number[]): number;
  /** Registers another version (seed changes the trees) and returns its number. */
  register(seed: number, stage?: 'production' | 'staging'): Promise<number>;
  registry: ReturnType<typeof openRegistry>;
}

export interface EntityFeatures {
  [entity: string]: { n: number; total: number };
}

export async function testServer(t: TestContext, options: { entities?: EntityFeatures; serve?: Partial<ServeOptions>; alsoServe?: string[] } = {}): Promise<TestServer> {
  const model = uniqueModel('serve');
  const view = uniqueView('servefv');
  cleanModels(t, model);
  cleanRedis(t, view);
  const artifacts = mkdtempSync(join(tmpdir(), 'rtml-serve-'));
  t.after(() => rmSync(artifacts, { recursive: true, force: true }));
  const features = ['amount', `${view}__n`, `${view}__total`];
  const registry = openRegistry(POSTGRES_URI, artifacts);
  t.after(() => registry.close());
  const sessions = new Map<number, SyncOnnxSession>();
  const register = async (seed: number, stage?: 'production' | 'staging') => {
    const bytes = modelBytes({ seed, features });
    const file = writeModel(artifacts, `m${seed}.onnx`, bytes);
    const { version } = await registry.register(model, file, { features, stage });
    sessions.set(version.version, new SyncOnnxSession(bytes, features.length));
    return version.version;
  };
  await register(1, 'production');

  const redis = new Redis(REDIS_URI);
  for (const [entity, values] of Object.entries(options.entities ?? {})) {
    await redis.hset(`rtml:fv:${view}:${entity}`, { __time: '1700000000000', n: String(values.n), total: String(values.total) });
  }
  redis.disconnect();

  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    models: registryModels(POSTGRES_URI, artifacts, () => {}),
    only: [model, ...(options.alsoServe ?? [])],
    online: redisOnline(REDIS_URI),
    log: () => {},
    ...options.serve,
  });
  t.after(() => server.close());
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    server,
    model,
    view,
    features,
    artifacts,
    registry,
    register,
    expected: (version, row) => sessions.get(version)!.score(Float32Array.from(row), 1)[0]!,
  };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}
