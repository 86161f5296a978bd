import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucket } from '../models/registry/index.ts';
import { cleanModels, modelBytes, uniqueModel, writeModel } from './support/registry.ts';
import { get, post, testServer } from './support/serve.ts';

/** Registry changes reach a running server without restart and without a failed request. */

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('live model changes', () => {
  it('promotion and rollback under load: zero failed requests, each answer scored by the version it names', async (t) => {
    const s = await testServer(t);
    const v2 = await s.register(2);
    const body = (i: number) => ({ model_name: s.model, features: { amount: i % 50, [`${s.view}__n`]: i % 7, [`${s.view}__total`]: i % 11 } });
    const seen = new Map<string, number>();
    const failures: string[] = [];
    let stop = false;
    let sent = 0;
    const worker = async () => {
      while (!stop) {
        const i = sent++;
        const r = await post(`${s.url}/predict`, body(i));
        if (r.status !== 200) {
          failures.push(`${r.status} ${JSON.stringify(r.body)}`);
          continue;
        }
        const version = Number((r.body.version as string).slice(1));
        seen.set(r.body.version as string, (seen.get(r.body.version as string) ?? 0) + 1);
        if (r.body.score !== s.expected(version, [i % 50, i % 7, i % 11])) failures.push(`request ${i}: score is not ${r.body.version}'s`);
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    const serving = async () => ((await post(`${s.url}/predict`, body(0))).body.version as string);
    await new Promise((r) => setTimeout(r, 200));
    await s.registry.promote(s.model, v2, 'production');
    await until(async () => (await serving()) === `v${v2}`, 'the promotion');
    await new Promise((r) => setTimeout(r, 200));
    await s.registry.rollback(s.model);
    await until(async () => (await serving()) === 'v1', 'the rollback');
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok((seen.get('v1') ?? 0) > 0 && (seen.get(`v${v2}`) ?? 0) > 0, JSON.stringify([...seen]));
  });

  it('A/B splits are deterministic by entity; shadows are scored and counted, never returned', async (t) => {
    const entities = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`e${i}`, { n: i, total: i }]));
    const s = await testServer(t, { entities });
    const v2 = await s.register(2);
    const v3 = await s.register(3);
    await s.registry.ab(s.model, [{ version: 1, percent: 50 }, { version: v2, percent: 50 }]);
    await s.registry.shadow(s.model, [v3]);
    const predict = (entity: string) => post(`${s.url}/predict`, { model_name: s.model, features: { amount: 5 }, entity: { card_id: entity } });
    // The shadow counter appears with the first request scored after the routing change arrives.
    await until(async () => {
      await predict('e0');
      return new RegExp(`rtml_shadow_predictions_total\\{[^}]*version="v${v3}"\\} [1-9]`).test((await get(`${s.url}/metrics`)).text);
    }, 'the shadow version');
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 40; i++) {
        const r = await predict(`e${i}`);
        const want = bucket(s.model, `e${i}`) < 50 ? 1 : v2;
        assert.equal(r.body.version, `v${want}`, `entity e${i}`);
        assert.equal(r.body.score, s.expected(want, [5, i, i]));
      }
    }
    const text = (await get(`${s.url}/metrics`)).text;
    const shadowed = Number(new RegExp(`rtml_shadow_predictions_total\\{[^}]*version="v${v3}"\\} (\\d+)`).exec(text)![1]);
    assert.ok(shadowed >= 80, `shadow scored ${shadowed} rows`);
    assert.match(text, new RegExp(`rtml_shadow_score_abs_delta_count\\{[^}]*version="v${v3}"\\} \\d+`));
  });

  it('a model registered and promoted while the server runs is served without restart; until then /ready names it', async (t) => {
    const later = uniqueModel('later');
    cleanModels(t, later);
    const s = await testServer(t, { alsoServe: [later] });
    const status = JSON.parse((await get(`${s.url}/ready`)).text) as { models: { name: string; serving: string | null; reason?: string }[] };
    assert.deepEqual(status.models.find((m) => m.name === later), { name: later, serving: null, reason: 'not registered' });
    const body = { model_name: later, features: { amount: 3, [`${s.view}__n`]: 1, [`${s.view}__total`]: 2 } };
    assert.equal((await post(`${s.url}/predict`, body)).status, 404);
    await s.registry.register(later, writeModel(s.artifacts, 'later.onnx', modelBytes({ seed: 5, features: s.features })), { features: s.features, stage: 'production' });
    // A request for an unknown name rescans the registry, at most once a second: a second after the
    // 404's rescan (and well before the 5 s periodic one), the next request loads and scores it.
    await new Promise((r) => setTimeout(r, 1_100));
    const answer = await post(`${s.url}/predict`, body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.model, later);
    assert.equal(answer.body.version, 'v1');
  });
});
