import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { testServer } from './support/serve.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection that sends a /predict request's headers and the first bytes of its body only. */
async function halfSent(port: number, body: string): Promise<{ socket: net.Socket; response: () => string; rest: () => void }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let response = '';
  socket.on('data', (d) => (response += d));
  socket.write(`POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  return { socket, response: () => response, rest: () => void socket.write(body.slice(10)) };
}

describe('rtml serve: close() drains', () => {
  it('answers a request in flight, closing its connection, before it resolves', async (t) => {
    const s = await testServer(t);
    const body = JSON.stringify({ model_name: s.model, features: { amount: 5, [`${s.view}__n`]: 1, [`${s.view}__total`]: 5 } });
    const client = await halfSent(s.port, body);
    t.after(() => client.socket.destroy());
    for (let i = 0; i < 200 && s.server.metrics.traffic.inFlight === 0; i++) await sleep(10);
    assert.equal(s.server.metrics.traffic.inFlight, 1);
    const disconnected = once(client.socket, 'close');
    let closed = false;
    const closing = s.server.close().then(() => (closed = true));
    await sleep(200);
    assert.equal(closed, false, 'close() waits for the request in flight');
    client.rest();
    await closing;
    assert.match(client.response(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(client.response(), /"score":/);
    await disconnected; // the answer closed the connection
  });

  it('gives up after drainMs: a request that never completes does not hold the shutdown', async (t) => {
    const lines: string[] = [];
    const s = await testServer(t, { serve: { drainMs: 300, log: (line) => lines.push(line) } });
    const client = await halfSent(s.port, JSON.stringify({ model_name: s.model, features: { amount: 5 } }));
    t.after(() => client.socket.destroy());
    for (let i = 0; i < 200 && s.server.metrics.traffic.inFlight === 0; i++) await sleep(10);
    await s.server.close();
    assert.deepEqual(lines.filter((l) => l.includes('still in flight')), ['rtml: serve: 1 request(s) still in flight after 300 ms: closing anyway']);
  });
});
