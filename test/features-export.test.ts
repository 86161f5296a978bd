import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { featureView, type FeatureRow, type FeatureView, type FeatureViewSpec } from '../engine/features.ts';
import { RtmlError } from '../engine/errors.ts';
import { exportTrainingSet } from '../connectors/features/export.ts';
import { pgliteOffline } from '../connectors/features/pgliteOffline.ts';
import { postgresOffline } from '../connectors/features/postgresOffline.ts';
import type { OfflineStore } from '../connectors/features/stores.ts';
import { POSTGRES_URI, cleanPostgres, tempDir, uniqueView } from './support/features.ts';

const row = (entity: string, time: number, values: FeatureRow['values']): FeatureRow => ({ entity, time, values });

const files = tempDir('export');
after(() => files.remove());

function labelsFile(rows: Record<string, unknown>[] | string): string {
  const file = path.join(files.dir, `labels-${Math.random().toString(36).slice(2)}.jsonl`);
  fs.writeFileSync(file, typeof rows === 'string' ? rows : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

const out = (ext: string) => path.join(files.dir, `out-${Math.random().toString(36).slice(2)}.${ext}`);
const readJsonl = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

async function view(t: TestContext, store: OfflineStore, spec: Omit<FeatureViewSpec, 'name'>, rows: FeatureRow[]): Promise<FeatureView> {
  const v = featureView({ name: uniqueView('export'), ...spec });
  cleanPostgres(t, v.name);
  await store.ensureView(v);
  await store.write(v, rows);
  return v;
}

const pgliteDir = tempDir('export-pglite');
after(() => pgliteDir.remove());
const kinds: [string, () => OfflineStore][] = [
  ['postgres', () => postgresOffline(POSTGRES_URI)],
  ['pglite', () => pgliteOffline(pgliteDir.dir)],
];

for (const [kind, open] of kinds) {
  describe(`point-in-time export: ${kind}`, () => {
    let store: OfflineStore;
    before(() => {
      store = open();
    });
    after(() => store.close());

    it('each label sees the latest row at or before its time, never a later one', async (t) => {
      const v = await view(t, store, { features: ['n', 'total'] }, [
        row('c1', 100, { n: 1, total: 10 }),
        row('c1', 200, { n: 2, total: 30 }),
        row('c1', 300, { n: 3, total: 60 }),
        row('c2', 150, { n: 1, total: null }),
      ]);
      const labels = [
        { entity: 'c1', time: 250, fraud: 1 },
        { entity: 'c1', time: 50, fraud: 0 }, // before any row
        { entity: 'c1', time: 100, fraud: 0 }, // exactly at a row's time: included
        { entity: 'c1', time: 199, fraud: 0 },
        { entity: 'c1', time: 200, fraud: 1 },
        { entity: 'c2', time: 1000, fraud: 0 },
        { entity: 'c3', time: 1000, fraud: 0 }, // unknown entity
        { entity: 'c1', time: 10_000, fraud: 1 },
      ];
      const file = out('jsonl');
      const summary = await exportTrainingSet({ offline: store, views: [v.name], labels: labelsFile(labels), out: file });
      const n = `${v.name}__n`;
      const total = `${v.name}__total`;
      assert.deepEqual(summary.columns, ['entity', 'time', 'fraud', n, total]);
      assert.deepEqual(summary.missing, { [v.name]: 2 });
      const expected: [number | null, number | null][] = [[2, 30], [null, null], [1, 10], [1, 10], [2, 30], [1, null], [null, null], [3, 60]];
      assert.deepEqual(readJsonl(file), labels.map((l, i) => ({ ...l, [n]: expected[i]![0], [total]: expected[i]![1] })));
    });

    it('matches a brute-force as-of join on random data', async (t) => {
      let seed = 7;
      const rand = (k: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % k);
      const rows = Array.from({ length: 400 }, () => row(`e${rand(20)}`, rand(1000), { x: rand(100) }));
      const v = await view(t, store, { features: ['x'] }, rows);
      const labels = Array.from({ length: 300 }, () => ({ entity: `e${rand(22)}`, time: rand(1100) }));
      const file = out('jsonl');
      await exportTrainingSet({ offline: store, views: [v.name], labels: labelsFile(labels), out: file });
      // The last row of a key wins within a batch, as the store's upsert does.
      const held = new Map<string, number>();
      for (const r of rows) held.set(`${r.entity}@${r.time}`, r.values.x as number);
      const expected = labels.map((l) => {
        let best = -1;
        for (const r of rows) if (r.entity === l.entity && r.time <= l.time && r.time > best) best = r.time;
        return best < 0 ? null : held.get(`${l.entity}@${best}`)!;
      });
      assert.deepEqual(readJsonl(file).map((r) => r[`${v.name}__x`]), expected);
    });

    it('several views: prefixed columns, each with its own ttl (a row is valid for [time, time + ttl))', async (t) => {
      const a = await view(t, store, { features: ['n'] }, [row('c1', 100, { n: 1 }), row('c1', 260, { n: 2 })]);
      const b = await view(t, store, { features: ['n'], ttl: 100 }, [row('c1', 100, { n: 10 }), row('c1', 260, { n: 20 })]);
      const labels = [
        { entity: 'c1', time: 150 }, // b: 150 - 100 < 100, still valid
        { entity: 'c1', time: 250 }, // b: the row at 100 expired at 200
        { entity: 'c1', time: 300 },
        { entity: 'c1', time: 360 }, // b: the row at 260 expired at 360
      ];
      const file = out('jsonl');
      await exportTrainingSet({ offline: store, views: [a.name, b.name], labels: labelsFile(labels), out: file });
      assert.deepEqual(
        readJsonl(file).map((r) => [r[`${a.name}__n`], r[`${b.name}__n`]]),
        [[1, 10], [1, null], [2, 20], [2, null]],
      );
    });
  });
}

describe('export: formats, fields and errors (postgres)', () => {
  let store: OfflineStore;
  before(() => {
    store = postgresOffline(POSTGRES_URI);
  });
  after(() => store.close());

  async function fixture(t: TestContext) {
    const v = await view(t, store, { features: ['n', 'avg'] }, [row('7', 1_700_000_000_000, { n: 3, avg: 12.5 }), row('8', 1_700_000_000_000, { n: 1, avg: null })]);
    const labels = [
      { card: 7, ts: '2023-11-14T22:13:20.000Z', note: 'a, "quoted" note', fraud: true, amount: 1.25 },
      { card: 8, ts: 1_700_000_000_000, note: null, fraud: false, amount: 3 },
      { card: 9, ts: 1_700_000_000_000, fraud: false, amount: 7.5 },
    ];
    return { v, labels, file: labelsFile(labels) };
  }

  it('JSONL, CSV and Parquet hold the same table; entity and time fields are options (ISO times too)', async (t) => {
    const { v, labels, file } = await fixture(t);
    const options = { offline: store, views: [v.name], labels: file, entity: 'card', time: 'ts' };
    const [jsonl, csv, parquet] = [out('jsonl'), out('csv'), out('parquet')];
    for (const target of [jsonl, csv, parquet]) await exportTrainingSet({ ...options, out: target });
    const n = `${v.name}__n`;
    const avg = `${v.name}__avg`;
    const features = [
      { [n]: 3, [avg]: 12.5 },
      { [n]: 1, [avg]: null },
      { [n]: null, [avg]: null },
    ];
    assert.deepEqual(readJsonl(jsonl), labels.map((l, i) => ({ ...l, ...features[i] })));
    assert.equal(
      fs.readFileSync(csv, 'utf8'),
      [
        `card,ts,note,fraud,amount,${n},${avg}`,
        '7,2023-11-14T22:13:20.000Z,"a, ""quoted"" note",true,1.25,3,12.5',
        '8,1700000000000,,false,3,1,',
        '9,1700000000000,,false,7.5,,',
        '',
      ].join('\n'),
    );
    const objects = await parquetReadObjects({ file: await asyncBufferFromFile(parquet) });
    assert.deepEqual(objects, [
      { card: 7n, ts: '2023-11-14T22:13:20.000Z', note: 'a, "quoted" note', fraud: true, amount: 1.25, [n]: 3, [avg]: 12.5 },
      { card: 8n, ts: '1700000000000', note: null, fraud: false, amount: 3, [n]: 1, [avg]: null },
      { card: 9n, ts: '1700000000000', note: null, fraud: false, amount: 7.5, [n]: null, [avg]: null },
    ]);
  });

  it('errors: unknown view, output extension, bad label lines, clashing columns', async (t) => {
    const { v, file } = await fixture(t);
    const base = { offline: store, views: [v.name], labels: file, out: out('jsonl'), entity: 'card', time: 'ts' };
    const fails = (code: string, pattern: RegExp) => (err: unknown) => err instanceof RtmlError && err.code === code && pattern.test(err.message);
    await assert.rejects(exportTrainingSet({ ...base, views: [uniqueView('nope')] }), fails('RTML_E_FEATURE_VIEW', /no feature view 't_nope_/));
    await assert.rejects(exportTrainingSet({ ...base, out: out('xlsx') }), fails('RTML_E_USAGE', /\.jsonl, \.csv or \.parquet/));
    await assert.rejects(exportTrainingSet({ ...base, views: [] }), fails('RTML_E_USAGE', /at least one/));
    await assert.rejects(exportTrainingSet({ ...base, views: [v.name, v.name] }), fails('RTML_E_USAGE', /twice/));
    await assert.rejects(exportTrainingSet({ ...base, entity: undefined }), fails('RTML_E_USAGE', /line 1: entity field 'entity' is missing/));
    await assert.rejects(exportTrainingSet({ ...base, labels: labelsFile('{"card":1,"ts":5}\n\nnot json\n') }), fails('RTML_E_USAGE', /line 3: not JSON/));
    await assert.rejects(exportTrainingSet({ ...base, labels: labelsFile('{"card":1,"ts":"yesterday"}\n') }), fails('RTML_E_USAGE', /line 1: time field 'ts' is "yesterday"/));
    await assert.rejects(exportTrainingSet({ ...base, labels: labelsFile(`{"card":1,"ts":5,"${v.name}__n":1}\n`) }), fails('RTML_E_USAGE', /clashes/));
    await assert.rejects(exportTrainingSet({ ...base, labels: path.join(files.dir, 'missing.jsonl') }), fails('RTML_E_USAGE', /ENOENT/));
  });
});
