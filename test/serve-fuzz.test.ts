import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { mulberry32 } from '../models/training/index.ts';
import { IngestTopic } from '../serving/ingest.ts';
import { get, post, testServer } from './support/serve.ts';

/**
 * No input crashes the server: random JSON, mutated valid bodies and hostile shapes on every JSON
 * endpoint get a 4xx with a reason (or a 2xx when the mutation happens to be valid), never a 500,
 * and the server still scores afterwards.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function fuzzer(seed: number) {
  const rand = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const scalar = (): unknown => pick([() => null, () => true, () => rand() * 1e6 - 5e5, () => Math.floor(rand() * 10), () => 'x'.repeat(Math.floor(rand() * 20)), () => 1e308 * 10 * 0 + 1.7976931348623157e308, () => -0, () => '\u0000\ud800', () => '__proto__'])();
  const value = (depth: number): unknown => {
    if (depth > 4 || rand() < 0.4) return scalar();
    if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 5) }, () => value(depth + 1));
    const keys = ['model_name', 'features', 'entity', 'instances', 'inputs', 'name', 'shape', 'datatype', 'data', 'id', 'amount', '__proto__', 'constructor', 'return_probabilities', 'outputs'];
    return Object.fromEntries(Array.from({ length: Math.floor(rand() * 6) }, () => [pick(keys), value(depth + 1)]));
  };
  const mutate = (text: string): string => {
    const chars = [...text];
    for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
      const at = Math.floor(rand() * (chars.length + 1));
      const op = rand();
      if (op < 0.3) chars.splice(at, 1);
      else if (op < 0.6) chars.splice(at, 0, pick(['{', '}', '[', ']', '"', ',', ':', '-', '0', 'e', 'n', '\\', ' ', '\u00e9']));
      else if (op < 0.8) chars[at] = String.fromCharCode(Math.floor(rand() * 128));
      else chars.length = at;
    }
    return chars.join('');
  };
  return { rand, pick, value, mutate };
}

describe('fuzzing the JSON endpoints', () => {
  it('answers 2000 random and mutated bodies with 2xx/4xx and a reason, never 500, and keeps serving', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-fuzz-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const s = await testServer(t, {
      entities: { c1: { n: 1, total: 2 } },
      serve: { body: { maxBytes: 64 << 10, timeoutMs: 5_000 }, ingest: [new IngestTopic('txns', `log:${join(dir, 'txns')}?schema=${join(ROOT, 'schemas/transaction.avsc')}&key=card_id`)] },
    });
    const f = fuzzer(7);
    const valid: Record<string, unknown> = {
      '/predict': { model_name: s.model, features: { amount: 1 }, entity: { card_id: 'c1' }, return_probabilities: true },
      '/predict/batch': { model_name: s.model, instances: [{ features: { amount: 1 }, entity: { card_id: 'c1' } }, { features: { amount: 2, [`${s.view}__n`]: 1, [`${s.view}__total`]: 3 } }] },
      [`/v2/models/${s.model}/infer`]: { id: 'a', inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
      [`/v2/models/${s.model}/versions/1/infer`]: { inputs: s.features.map((name) => ({ name, shape: [1], datatype: 'FP64', data: [1] })) },
      '/events/txns': [{ txn_id: 't', card_id: 'c1', merchant_id: 'm', amount: 1, ts: 1_700_000_000_000 }],
    };
    const paths = Object.keys(valid);
    const hostile = ['', ' ', 'null', '[]', '{}', '"x"', '1e999', '[' .repeat(100_000), `{"model_name":"${'a'.repeat(60_000)}"}`, '{"model_name":"x","features":{"amount":1},"model_name":"y"}', '\u0000', '{"__proto__":{"polluted":1},"model_name":"m"}'];
    const statuses = new Map<number, number>();
    const problems: string[] = [];
    let n = 0;
    const one = async () => {
      while (n < 2000) {
        const i = n++;
        const path = f.pick(paths);
        const r = f.rand();
        const body = i < hostile.length ? hostile[i]! : r < 0.45 ? f.mutate(JSON.stringify(valid[path])) : r < 0.9 ? JSON.stringify(f.value(0)) : f.mutate(JSON.stringify(f.value(0)));
        const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) problems.push(`${path} ${JSON.stringify(body).slice(0, 200)} → ${res.status} ${text.slice(0, 200)}`);
        else if (res.status >= 400) {
          const parsed = JSON.parse(text) as { error?: unknown };
          if (typeof parsed.error !== 'string' || parsed.error === '') problems.push(`${path}: ${res.status} without a reason`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, one));
    assert.deepEqual(problems, [], `statuses ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get(400) ?? 0) > 100 && [...statuses.keys()].some((k) => k < 300), JSON.stringify([...statuses]));
    // The WebSocket endpoint takes the same abuse on one connection.
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    let answered = 0;
    const done = new Promise<void>((resolve) => ws.on('message', () => ++answered === 500 && resolve()));
    for (let i = 0; i < 500; i++) {
      const v = f.value(0);
      const message = i % 2 === 0 ? JSON.stringify({ id: i, ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { model_name: v }) }) : f.mutate(JSON.stringify({ id: i, ...(valid['/predict'] as object) }));
      ws.send(message);
    }
    await done;
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
    assert.equal((await get(`${s.url}/health`)).status, 200);
    const ok = await post(`${s.url}/predict`, valid['/predict']);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.score, s.expected(1, [1, 1, 2]));
  });
});
