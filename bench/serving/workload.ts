import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';

/**
 * The serving benchmark's data, shared by the harness and the Node peers: the model's 16 columns,
 * the online-store rows every server reads (view `bench`, one hash per card) and the request
 * bodies the load generators cycle through. Everything is seeded, so every run and every server
 * sees the same requests.
 */

/** Features sent in the request body. */
export const REQUEST_FEATURES = ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'];
/** Fields of the online-store hash; the model knows them as `bench__g0`…, rtml's view__feature naming. */
export const STORED_FEATURES = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7'];
/** The model's input columns, in order (see train_model.py). */
export const MODEL_FEATURES = [...REQUEST_FEATURES, ...STORED_FEATURES.map((g) => `bench__${g}`)];
export const ENTITIES = 10_000;

export const storeKey = (card: string) => `rtml:fv:bench:${card}`;

export interface PredictBody {
  features: Record<string, number>;
  entity: { card_id: string };
  model_name: string;
}

/** Uniform values in (0, 1) from a seeded LCG. */
function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) + 1) / 4294967297;
}

/** Standard-normal values (Box-Muller), rounded to 4 decimals: short, and the same number as text or JSON. */
function normals(uniform: () => number): () => number {
  return () => Number((Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())).toFixed(4));
}

let stored: number[][] | undefined;

/** The stored features of card `i` (the same every run). */
export function storedRow(i: number): number[] {
  if (stored === undefined) {
    const next = normals(uniforms(5));
    stored = Array.from({ length: ENTITIES }, () => STORED_FEATURES.map(() => next()));
  }
  return stored[i]!;
}

/** Writes the `ENTITIES` hashes (features as strings plus `__time`, as rtml's Redis store does) in one pipeline. */
export async function seedStore(redisUri: string): Promise<void> {
  const redis = new Redis(redisUri);
  try {
    const pipeline = redis.pipeline();
    const time = String(Date.now());
    for (let i = 0; i < ENTITIES; i++) {
      const row = storedRow(i);
      const fields: string[] = ['__time', time];
      STORED_FEATURES.forEach((g, j) => fields.push(g, String(row[j])));
      pipeline.hset(storeKey(`c${i}`), ...fields);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0];
  } finally {
    redis.disconnect();
  }
}

/** `n` request bodies for model `model`, random cards. */
export function requestBodies(n: number, model: string, seed = 11): PredictBody[] {
  const uniform = uniforms(seed);
  const next = normals(uniform);
  const bodies: PredictBody[] = [];
  for (let i = 0; i < n; i++) {
    const features: Record<string, number> = {};
    for (const f of REQUEST_FEATURES) features[f] = next();
    const card = Math.floor(uniform() * ENTITIES);
    bodies.push({ features, entity: { card_id: `c${card}` }, model_name: model });
  }
  return bodies;
}

/** The model's input row for a body: request features, then the card's stored ones. */
export function modelRow(body: PredictBody): number[] {
  const stored = storedRow(Number(body.entity.card_id.slice(1)));
  return [...REQUEST_FEATURES.map((f) => body.features[f]!), ...stored];
}

/** Writes one JSON body per line: what post.lua and the Node load generators read. */
export function writeLines(path: string, bodies: readonly unknown[]): void {
  writeFileSync(path, bodies.map((b) => JSON.stringify(b)).join('\n') + '\n');
}
