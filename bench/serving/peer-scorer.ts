import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { REQUEST_FEATURES, STORED_FEATURES, storeKey } from './workload.ts';

/**
 * What both Node peers (minimal-uws.ts, fastify.ts) do per request, written as a user of the
 * public libraries would: HGETALL the card's hash, build the 16-float row (body features, then
 * stored ones), one `session.run` per request, no batching.
 */

export interface Prediction {
  score: number;
  label: 0 | 1;
}

export interface Scorer {
  /** Scores a parsed request body; rejects with BadRequest when it has no card id. */
  predict(body: unknown): Promise<Prediction>;
}

export class BadRequest extends Error {}

/** `--port P --model file.onnx --redis uri`, the flags every peer takes. */
export function peerFlags(): { port: number; model: string; redis: string } {
  const { values } = parseArgs({ options: { port: { type: 'string' }, model: { type: 'string' }, redis: { type: 'string', default: 'redis://127.0.0.1:6379' } } });
  if (values.port === undefined || values.model === undefined) throw new Error('usage: --port P --model file.onnx [--redis uri]');
  return { port: Number(values.port), model: values.model, redis: values.redis };
}

export async function openScorer(modelPath: string, redisUri: string): Promise<Scorer> {
  // One thread: one row per call gains nothing from ORT's pool, whose spinning workers would
  // only take CPU from the event loop and the load generator on a small machine (rtml's sessions
  // are single-threaded too).
  const session = await InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const redis = new Redis(redisUri);
  const width = REQUEST_FEATURES.length + STORED_FEATURES.length;
  return {
    async predict(body) {
      const { features, entity } = (body ?? {}) as { features?: Record<string, unknown>; entity?: { card_id?: unknown } };
      if (typeof entity?.card_id !== 'string') throw new BadRequest('entity.card_id is required');
      const stored = await redis.hgetall(storeKey(entity.card_id));
      const row = new Float32Array(width);
      REQUEST_FEATURES.forEach((f, j) => (row[j] = typeof features?.[f] === 'number' ? features[f] : Number.NaN));
      STORED_FEATURES.forEach((g, j) => (row[REQUEST_FEATURES.length + j] = stored[g] ? Number(stored[g]) : Number.NaN));
      const out = await session.run({ features: new Tensor('float32', row, [1, width]) });
      const score = (out.score!.data as Float32Array)[0]!;
      return { score, label: score >= 0.5 ? 1 : 0 };
    },
  };
}
