import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { testServer } from './support/serve.ts';

/** WebSocket scoring: many requests in flight over one connection, and clients that do not keep up. */

function connect(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('WebSocket /ws', () => {
  it('answers many requests in flight on one connection, each matched by id', async (t) => {
    const s = await testServer(t, { entities: { c1: { n: 2, total: 30 } } });
    const ws = await connect(`ws://127.0.0.1:${s.port}/ws`);
    t.after(() => ws.close());
    const answers = new Map<unknown, Record<string, unknown>>();
    const all = new Promise<void>((resolve) =>
      ws.on('message', (data) => {
        const answer = JSON.parse(String(data)) as Record<string, unknown>;
        answers.set(answer.id, answer);
        if (answers.size === 1002) resolve();
      }),
    );
    for (let i = 0; i < 1000; i++) ws.send(JSON.stringify({ id: i, model_name: s.model, features: { amount: i }, entity: { card_id: 'c1' } }));
    ws.send('{not json');
    ws.send(JSON.stringify({ id: 'x', model_name: s.model, features: { amount: 'oops' }, entity: { card_id: 'c1' } }));
    await all;
    for (let i = 0; i < 1000; i++) {
      assert.equal(answers.get(i)!.score, s.expected(1, [i, 2, 30]), `id ${i}`);
      assert.equal(answers.get(i)!.version, 'v1');
    }
    assert.equal(answers.get(null)!.status, 400);
    assert.match(answers.get(null)!.error as string, /malformed message/);
    assert.equal(answers.get('x')!.status, 422);
    assert.match(answers.get('x')!.error as string, /feature 'amount' must be a number/);
    assert.ok(ws.readyState === WebSocket.OPEN, 'bad messages do not close the connection');
  });

  it('closes a connection with too many requests in flight (1008)', async (t) => {
    const s = await testServer(t, { serve: { socket: { maxInFlight: 10 } } });
    const ws = await connect(`ws://127.0.0.1:${s.port}/ws`);
    const closed = once(ws, 'close');
    for (let i = 0; i < 100; i++) ws.send(JSON.stringify({ id: i, model_name: s.model, features: { amount: i, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } }));
    const [code, reason] = (await closed) as [number, Buffer];
    assert.equal(code, 1008);
    assert.match(String(reason), /more than 10 requests in flight/);
  });

  it('closes a client that does not read its answers (1013) instead of buffering them without bound', async (t) => {
    const s = await testServer(t, { serve: { socket: { maxBufferedBytes: 64 << 10, maxInFlight: 1 << 20 } } });
    const ws = await connect(`ws://127.0.0.1:${s.port}/ws`);
    const closed = once(ws, 'close');
    // Stop reading: the answers fill the kernel's buffers, then the server's.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const message = JSON.stringify({ id: 0, model_name: s.model, return_probabilities: true, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } });
    let sent = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 2000 && ws.readyState === WebSocket.OPEN; i++, sent++) ws.send(message);
    }, 5);
    t.after(() => clearInterval(timer));
    const metrics = async () => (await fetch(`${s.url}/metrics`)).text();
    let text = '';
    for (let i = 0; i < 400 && !/rtml_ws_closed_total\{reason="slow_reader"\} 1/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await metrics();
    }
    clearInterval(timer);
    assert.match(text, /rtml_ws_closed_total\{reason="slow_reader"\} 1/, `after ${sent} requests`);
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const [code] = (await closed) as [number];
    assert.equal(code, 1013);
  });
});
