import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IngestTopic } from '../serving/ingest.ts';
import { post, testServer } from './support/serve.ts';

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const txn = (i: number, card = `c${i % 3}`) => ({ txn_id: `t${i}`, card_id: card, merchant_id: 'm1', amount: i * 1.5, ts: 1_700_000_000_000 + i });

describe('POST /events/{source}', () => {
  it('appends the good events of a request durably (202), reports the bad ones with index and reason', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rtml-ingest-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const topic = join(dir, 'txns');
    const s = await testServer(t, { serve: { ingest: [new IngestTopic('txns', `log:${topic}?schema=${join(ROOT, 'schemas/transaction.avsc')}&key=card_id&partitions=2`)] } });

    const one = await post(`${s.url}/events/txns`, txn(0));
    assert.equal(one.status, 202, JSON.stringify(one.body));
    assert.deepEqual(one.body, { accepted: 1, rejected: 0, errors: [] });

    const mixed = await post(`${s.url}/events/txns`, [txn(1), { ...txn(2), amount: 'lots' }, txn(3), { card_id: 'c9' }, txn(4)]);
    assert.equal(mixed.status, 202);
    assert.equal(mixed.body.accepted, 3);
    assert.equal(mixed.body.rejected, 2);
    const errors = mixed.body.errors as { index: number; reason: string }[];
    assert.deepEqual(errors.map((e) => e.index), [1, 3]);
    assert.match(errors[0]!.reason, /amount/);

    const allBad = await post(`${s.url}/events/txns`, [{ nope: 1 }]);
    assert.equal(allBad.status, 422);
    assert.equal((await post(`${s.url}/events/elsewhere`, txn(5))).status, 404);
    assert.equal((await post(`${s.url}/events/txns`, [])).status, 400);
    assert.equal((await post(`${s.url}/events/txns`, '{"txn_id":')).status, 400);

    // Durable at the 202: another process reads them from the log now, while the server still holds it.
    const lines = execFileSync(process.execPath, [RTML, 'log', 'cat', `log:${topic}`], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n');
    const ids = lines.map((l) => (JSON.parse(l) as { value: { txn_id: string } }).value.txn_id).sort();
    assert.deepEqual(ids, ['t0', 't1', 't3', 't4']);
  });
});
