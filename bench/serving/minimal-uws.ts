/**
 * Peer: the smallest uWebSockets.js scoring server — POST /predict, one ONNX Runtime call and one
 * Redis HGETALL per request (peer-scorer.ts). Run: node --import tsx bench/serving/minimal-uws.ts
 * --port P --model file.onnx [--redis uri]
 */
import uWS from 'uWebSockets.js';
import { BadRequest, openScorer, peerFlags } from './peer-scorer.ts';

const flags = peerFlags();
const scorer = await openScorer(flags.model, flags.redis);

uWS
  .App()
  .post('/predict', (res) => {
    // uWS frees the response when the client goes away: nothing may touch it after onAborted.
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const reply = (status: string, json: string) => {
      if (aborted) return;
      // Outside the handler's first synchronous part: cork, so status, header and body go out in one write.
      res.cork(() => res.writeStatus(status).writeHeader('Content-Type', 'application/json').end(json));
    };
    const chunks: Buffer[] = [];
    res.onData((chunk, isLast) => {
      // The chunk's memory is reused once this callback returns: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return reply('400 Bad Request', '{"error":"body is not JSON"}');
      }
      scorer.predict(body).then(
        (p) => reply('200 OK', JSON.stringify(p)),
        (err: unknown) => reply(err instanceof BadRequest ? '400 Bad Request' : '500 Internal Server Error', JSON.stringify({ error: String(err) })),
      );
    });
  })
  .listen('127.0.0.1', flags.port, (socket) => {
    if (!socket) {
      console.error(`minimal-uws: cannot listen on port ${flags.port}`);
      process.exit(1);
    }
  });
