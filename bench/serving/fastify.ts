/**
 * Peer: the same scoring server on Fastify (logger off, response schema so replies are
 * serialized by fast-json-stringify, as Fastify recommends). Run: node --import tsx
 * bench/serving/fastify.ts --port P --model file.onnx [--redis uri]
 */
import Fastify from 'fastify';
import { BadRequest, openScorer, peerFlags } from './peer-scorer.ts';

const flags = peerFlags();
const scorer = await openScorer(flags.model, flags.redis);
const app = Fastify({ logger: false });

app.post(
  '/predict',
  {
    schema: {
      response: {
        200: { type: 'object', properties: { score: { type: 'number' }, label: { type: 'integer' } } },
        400: { type: 'object', properties: { error: { type: 'string' } } },
      },
    },
  },
  async (request, reply) => {
    try {
      return await scorer.predict(request.body);
    } catch (err) {
      if (err instanceof BadRequest) return reply.code(400).send({ error: err.message });
      throw err;
    }
  },
);

await app.listen({ port: flags.port, host: '127.0.0.1' });
