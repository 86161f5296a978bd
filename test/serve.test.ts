import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { get, post, testServer } from './support/serve.ts';

/** The scoring endpoints against a real model in the registry and real features in Redis. */

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('rtml serve /predict', () => {
  it('reads the entity online features from Redis, merges the given ones (given win) and scores as the model does', async (t) => {
    const s = await testServer(t, { entities: { c1: { n: 3, total: 120 }, c2: { n: 9, total: 4000 } } });
    const a = await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 10 }, entity: { card_id: 'c1' }, return_probabilities: true });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.score, s.expected(1, [10, 3, 120]));
    assert.equal(a.body.model, s.model);
    assert.equal(a.body.version, 'v1');
    assert.equal(a.body.label, (a.body.score as number) >= 0.5 ? 1 : 0);
    assert.deepEqual(a.body.probabilities, [1 - (a.body.score as number), a.body.score]);
    assert.equal(typeof a.body.latency_ms, 'number');

    const given = await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 10, [`${s.view}__n`]: 50 }, entity: { card_id: 'c2' } });
    assert.equal(given.body.score, s.expected(1, [10, 50, 4000]));
    assert.equal(given.body.probabilities, undefined);

    // A new entity has no online values: they score as missing (NaN), as in training.
    const unknown = await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 10 }, entity: { card_id: 'nobody' } });
    assert.equal(unknown.body.score, s.expected(1, [10, Number.NaN, Number.NaN]));
    // Everything given: no entity needed.
    const direct = await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 7, [`${s.view}__n`]: 1, [`${s.view}__total`]: 2 } });
    assert.equal(direct.body.score, s.expected(1, [7, 1, 2]));
  });

  it('answers a batch in order, with one model call and one Redis round trip, equal to single predictions', async (t) => {
    const entities = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`c${i}`, { n: i, total: i * 37 }]));
    const s = await testServer(t, { entities });
    const instances = Array.from({ length: 64 }, (_, i) => ({ features: { amount: i * 3.5 }, entity: { card_id: `c${i % 25}` } }));
    const before = (await get(`${s.url}/metrics`)).text;
    const batch = await post(`${s.url}/predict/batch`, { model_name: s.model, instances, return_probabilities: true });
    const after = (await get(`${s.url}/metrics`)).text;
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    const predictions = batch.body.predictions as { score: number; version: string; probabilities: number[] }[];
    assert.equal(predictions.length, 64);
    for (let i = 0; i < 64; i++) {
      const e = entities[`c${i % 25}`];
      assert.equal(predictions[i]!.score, s.expected(1, [i * 3.5, e?.n ?? Number.NaN, e?.total ?? Number.NaN]), `instance ${i}`);
      assert.equal(predictions[i]!.version, 'v1');
    }
    const calls = (text: string) => metricValue(text, 'rtml_model_batch_rows_count', { model: s.model });
    const lookups = (text: string) => metricValue(text, 'rtml_feature_lookup_duration_seconds_count', { view: s.view });
    assert.equal(calls(after) - calls(before), 1, 'one model call');
    assert.equal(metricValue(after, 'rtml_model_batch_rows_sum', { model: s.model }) - metricValue(before, 'rtml_model_batch_rows_sum', { model: s.model }), 64);
    assert.equal(lookups(after) - lookups(before), 1, 'one feature lookup');
    for (const i of [0, 21, 63]) {
      const single = await post(`${s.url}/predict`, { model_name: s.model, ...instances[i] });
      assert.equal(single.body.score, predictions[i]!.score);
    }
  });

  it('coalesces concurrent requests into shared model calls', async (t) => {
    const s = await testServer(t, { entities: { c1: { n: 1, total: 1 } } });
    const before = (await get(`${s.url}/metrics`)).text;
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(`${s.url}/predict`, { model_name: s.model, features: { amount: i }, entity: { card_id: 'c1' } })));
    const after = (await get(`${s.url}/metrics`)).text;
    answers.forEach((a, i) => assert.equal(a.body.score, s.expected(1, [i, 1, 1])));
    const calls = metricValue(after, 'rtml_model_batch_rows_count', { model: s.model }) - metricValue(before, 'rtml_model_batch_rows_count', { model: s.model });
    assert.ok(calls < 200, `200 concurrent requests took ${calls} model calls`);
    assert.equal(metricValue(after, 'rtml_http_requests_total', { route: 'predict', status: '200' }), 200);
  });

  it('refuses bad requests with the status and the reason', async (t) => {
    const s = await testServer(t);
    const cases: [unknown, number, RegExp][] = [
      ['{"model_name": ', 400, /malformed JSON/],
      ['[1,2]', 400, /expected a JSON object/],
      [{ features: { amount: 1 } }, 400, /"model_name" must be a non-empty string/],
      [{ model_name: 'no_such_model', features: {} }, 404, /no model 'no_such_model' is served/],
      [{ model_name: s.model, features: { amount: 1 } }, 422, new RegExp(`feature '${s.view}__n' is missing: give it in "features", or an "entity"`)],
      [{ model_name: s.model, features: { [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 }, entity: { card_id: 'c' } }, 422, /feature 'amount' is missing: model .* needs it/],
      [{ model_name: s.model, features: { amount: '12' }, entity: { card_id: 'c' } }, 422, /feature 'amount' must be a number/],
      [{ model_name: s.model, features: { amount: [1] }, entity: { card_id: 'c' } }, 422, /feature 'amount' must be a number .* got an array/],
      [{ model_name: s.model, features: 'amount=1' }, 400, /"features" must be an object/],
      [{ model_name: s.model, features: { amount: 1 }, entity: { a: 1, b: 2 } }, 400, /exactly one key field/],
      [{ model_name: s.model, features: { amount: 1 }, entity: { card_id: { x: 1 } } }, 400, /"entity\.card_id" must be a string or a number/],
    ];
    for (const [body, status, reason] of cases) {
      const answer = await post(`${s.url}/predict`, body);
      assert.equal(answer.status, status, `${JSON.stringify(body)} → ${JSON.stringify(answer.body)}`);
      assert.match(answer.body.error as string, reason);
      assert.match(answer.body.code as string, /^RTML_E_/);
    }
    const batch = await post(`${s.url}/predict/batch`, { model_name: s.model, instances: [{ features: { amount: 1 }, entity: { card_id: 'c' } }, { features: { amount: true }, entity: { card_id: 'c' } }] });
    assert.equal(batch.status, 422);
    assert.match(batch.body.error as string, /^instances\[1\]: feature 'amount' must be a number/);
    assert.equal((await post(`${s.url}/predict/batch`, { model_name: s.model, instances: [] })).status, 400);
    assert.equal((await get(`${s.url}/predict`)).status, 405);
    assert.equal((await get(`${s.url}/nowhere`)).status, 404);
    // Still serving after all that.
    assert.equal((await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1 }, entity: { card_id: 'c' } })).status, 200);
  });
});

describe('Open Inference Protocol v2', () => {
  it('health, model metadata, infer with a features tensor or named inputs, and explicit versions', async (t) => {
    const s = await testServer(t);
    const v2 = await s.register(2, 'staging');
    assert.equal((await get(`${s.url}/v2/health/live`)).status, 200);
    assert.equal((await get(`${s.url}/v2/health/ready`)).status, 200);
    const meta = JSON.parse((await get(`${s.url}/v2/models/${s.model}`)).text) as Record<string, unknown>;
    assert.deepEqual(meta.versions, ['1', '2']);
    assert.deepEqual(meta.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 3] }]);
    assert.deepEqual(meta.outputs, [{ name: 'score', datatype: 'FP32', shape: [-1, 1] }]);
    assert.deepEqual((meta.parameters as { features: string[] }).features, s.features);
    assert.equal((await get(`${s.url}/v2/models/${s.model}/ready`)).status, 200);
    assert.equal((await get(`${s.url}/v2/models/nope`)).status, 404);

    const rows = [[10, 3, 120], [1, 2, 3]];
    const infer = await post(`${s.url}/v2/models/${s.model}/infer`, { id: 'r1', inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: rows }], outputs: [{ name: 'score' }, { name: 'label' }] });
    assert.equal(infer.status, 200, JSON.stringify(infer.body));
    assert.equal(infer.body.id, 'r1');
    assert.equal(infer.body.model_version, '1');
    const [score, label] = infer.body.outputs as { name: string; shape: number[]; data: number[] }[];
    assert.deepEqual(score!.shape, [2, 1]);
    assert.deepEqual(score!.data, rows.map((r) => s.expected(1, r)));
    assert.deepEqual(label!.data, score!.data.map((x) => (x >= 0.5 ? 1 : 0)));

    const named = await post(`${s.url}/v2/models/${s.model}/versions/${v2}/infer`, {
      inputs: s.features.map((name, j) => ({ name, shape: [2], datatype: 'FP64', data: rows.map((r) => r[j]) })),
    });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    assert.equal(named.body.model_version, String(v2));
    assert.deepEqual((named.body.outputs as { data: number[] }[])[0]!.data, rows.map((r) => s.expected(v2, r)));

    assert.equal((await post(`${s.url}/v2/models/${s.model}/versions/9/infer`, { inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] })).status, 404);
    const wide = await post(`${s.url}/v2/models/${s.model}/infer`, { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(wide.status, 422);
    assert.match(wide.body.error as string, /takes 3 features per row/);
    const short = await post(`${s.url}/v2/models/${s.model}/infer`, { inputs: [{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    assert.equal(short.status, 400);
    assert.match(short.body.error as string, /holds 6 values, data has 3/);
  });
});

describe('/ready and /metrics', () => {
  it('metrics count requests by route, model, version and status, with latency histograms in seconds and process metrics', async (t) => {
    const s = await testServer(t, { entities: { c1: { n: 1, total: 2 } } });
    await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1 }, entity: { card_id: 'c1' } });
    await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 'x' }, entity: { card_id: 'c1' } });
    const text = (await get(`${s.url}/metrics`)).text;
    assert.equal(metricValue(text, 'rtml_http_requests_total', { route: 'predict', model: s.model, version: 'v1', status: '200' }), 1);
    assert.equal(metricValue(text, 'rtml_http_requests_total', { route: 'predict', model: s.model, status: '422' }), 1);
    assert.equal(metricValue(text, 'rtml_http_request_duration_seconds_count', { route: 'predict', status: '200' }), 1);
    assert.ok(metricValue(text, 'rtml_http_request_duration_seconds_sum', { route: 'predict', status: '200' }) < 1, 'seconds, not ms');
    assert.equal(metricValue(text, 'rtml_feature_lookup_duration_seconds_count', { view: s.view }), 1);
    assert.match(text, /^rtml_http_requests_in_flight 1$/m); // the /metrics request itself
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  it('is not ready while the online store is unreachable, and says why', async (t) => {
    const { redisOnline } = await import('../connectors/features/redisOnline.ts');
    const s = await testServer(t, { serve: { online: redisOnline('redis://127.0.0.1:1') } });
    const ready = await get(`${s.url}/ready`);
    assert.equal(ready.status, 503);
    assert.match(JSON.parse(ready.text).reasons.join(' '), /online feature store redis:\/\/127\.0\.0\.1:1 unreachable/);
    const predict = await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1 }, entity: { card_id: 'c1' } });
    assert.equal(predict.status, 503);
    assert.match(predict.body.error as string, /online features unavailable/);
    // Requests that need no lookup still score.
    assert.equal((await post(`${s.url}/predict`, { model_name: s.model, features: { amount: 1, [`${s.view}__n`]: 1, [`${s.view}__total`]: 1 } })).status, 200);
  });
});
