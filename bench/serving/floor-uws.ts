/**
 * The machine's floor for the serving benchmark: uWebSockets.js reading the JSON body and answering
 * a constant prediction — no Redis, no model. Its latency at a fixed rate is what the generator,
 * the loopback and the scheduler cost on this machine; no scoring server can do better.
 */
import uWS from 'uWebSockets.js';
import { peerFlags } from './peer-scorer.ts';

const { port } = peerFlags();
uWS
  .App()
  .post('/predict', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    let body = '';
    res.onData((chunk, isLast) => {
      body += Buffer.from(chunk).toString();
      if (!isLast) return;
      JSON.parse(body);
      if (!aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end('{"score":0.5,"label":1}'));
    });
  })
  .listen('127.0.0.1', port, (socket) => {
    if (!socket) {
      console.error(`floor-uws: cannot listen on port ${port}`);
      process.exit(1);
    }
  });
