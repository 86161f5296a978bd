import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { trainCommand, type TrainOptions } from '../cli/train.ts';
import { writeTable, type TableColumn } from '../storage/index.ts';
import { loadOnnxModel } from '../models/onnx/index.ts';
import { mulberry32 } from '../models/training/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'rtml-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FEATURES = ['card_activity__n', 'card_activity__total', 'card_activity__mean'];

/**
 * A training set as `rtml features export` writes it (through the same writeTable): label columns
 * first, then `<view>__<feature>` columns, null where the card had no window yet. Fraud when the
 * card is busy and spends a lot.
 */
function writeTrainingSet(path: string, rows: number): void {
  const rand = mulberry32(17);
  const cols: Record<string, unknown[]> = { entity: [], time: [], is_fraud: [], card_activity__n: [], card_activity__total: [], card_activity__mean: [] };
  for (let i = 0; i < rows; i++) {
    const fresh = rand() < 0.1; // no features as of the label time
    const n = 1 + Math.floor(rand() * 10);
    const mean = 5 + rand() * 200;
    cols.entity!.push(`card-${i % 50}`);
    cols.time!.push(1767225600000 + i * 1000);
    cols.is_fraud!.push(fresh ? (rand() < 0.05 ? 1 : 0) : n > 6 && mean > 120 ? 1 : 0);
    cols.card_activity__n!.push(fresh ? null : n);
    cols.card_activity__total!.push(fresh ? null : n * mean);
    cols.card_activity__mean!.push(fresh ? null : mean);
  }
  const columns: TableColumn[] = Object.entries(cols).map(([name, values]) => ({ name, values, numeric: name.includes('__') }));
  writeTable(path, columns, rows);
}

/** Runs trainCommand and returns its summary and what it printed on stderr. */
async function train(t: TestContext, options: Omit<TrainOptions, 'label' | 'features'> & Partial<TrainOptions>) {
  const printed: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string) => (printed.push(String(chunk)), true));
  const summary = await trainCommand({ label: 'is_fraud', features: FEATURES.join(','), ...options });
  t.mock.restoreAll();
  return { summary, printed: printed.join('') };
}

describe('trainCommand', () => {
  for (const ext of ['csv', 'jsonl']) {
    it(`trains on a .${ext} training set, prints one summary line and writes a valid ONNX model`, async (t) => {
      const data = join(dir, `train.${ext}`);
      writeTrainingSet(data, 5_000);
      if (ext === 'csv') assert.match(readFileSync(data, 'utf8'), /\ncard-\d+,\d+,[01],,,\n/, 'empty cells for missing values');
      const out = join(dir, ext, 'model.onnx');
      const { summary, printed } = await train(t, { data, out, trees: 30, depth: 4, learningRate: 0.2 });
      assert.equal(printed.split('\n').filter(Boolean).length, 1);
      assert.match(printed, /^rtml: train: 5,000 rows \(4,000 train, 1,000 held out\), 3 features, 30 trees in \d+\.\d\ds; AUC train 0\.\d{4} held-out 0\.\d{4}; logloss train \d\.\d{4} held-out \d\.\d{4}; reference profile of 3 features and the score; wrote .*model\.onnx\n$/);
      assert.ok(summary.metrics.held_out_auc > 0.9, `held-out AUC ${summary.metrics.held_out_auc}`);
      assert.ok(summary.onnxMaxDiff <= 1e-6);
      const model = loadOnnxModel(out, { features: FEATURES });
      assert.equal(model.metadata['rtml.label'], 'is_fraud');
      assert.equal(JSON.parse(model.metadata['rtml.params']!).depth, 4);
      assert.equal(JSON.parse(model.metadata['rtml.metrics']!).held_out_auc, summary.metrics.held_out_auc);
    });
  }

  it('gives the same model from the CSV and the JSONL export of one table', async (t) => {
    writeTrainingSet(join(dir, 'same.csv'), 2_000);
    writeTrainingSet(join(dir, 'same.jsonl'), 2_000);
    await train(t, { data: join(dir, 'same.csv'), out: join(dir, 'same-csv.onnx'), trees: 10 });
    await train(t, { data: join(dir, 'same.jsonl'), out: join(dir, 'same-jsonl.onnx'), trees: 10 });
    assert.deepEqual(readFileSync(join(dir, 'same-csv.onnx')), readFileSync(join(dir, 'same-jsonl.onnx')));
  });

  it('trains on the Parquet export as on the CSV export of one table: same model, same metrics', async (t) => {
    writeTrainingSet(join(dir, 'export.csv'), 2_000);
    writeTrainingSet(join(dir, 'export.parquet'), 2_000);
    const csv = await train(t, { data: join(dir, 'export.csv'), out: join(dir, 'export-csv.onnx'), trees: 10 });
    const parquet = await train(t, { data: join(dir, 'export.parquet'), out: join(dir, 'export-parquet.onnx'), trees: 10 });
    assert.deepEqual(parquet.summary.metrics, csv.summary.metrics);
    assert.deepEqual(readFileSync(join(dir, 'export-parquet.onnx')), readFileSync(join(dir, 'export-csv.onnx')));
    assert.match(parquet.printed, /^rtml: train: 2,000 rows \(1,600 train, 400 held out\), 3 features, 10 trees/);
  });

  it('refuses a Parquet export without a named column, listing the columns there are', async (t) => {
    writeTrainingSet(join(dir, 'cols.parquet'), 20);
    await assert.rejects(train(t, { data: join(dir, 'cols.parquet'), features: 'card_activity__n,card_activity__nn', out: join(dir, 'x.onnx') }), {
      code: 'RTML_E_USAGE',
      message: /cols\.parquet has no column "card_activity__nn" \(columns: entity, time, is_fraud, card_activity__n, card_activity__total, card_activity__mean\)/,
    });
  });

  it('refuses a non-numeric value, naming the file, line and column', async (t) => {
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'is_fraud,card_activity__n,card_activity__total,card_activity__mean\n0,1,2,3\n1,2,lots,4\n');
    await assert.rejects(train(t, { data: csv, out: join(dir, 'bad.onnx') }), { code: 'RTML_E_TRAIN', message: `${csv}:3: column card_activity__total: "lots" is not a number` });
    const jsonl = join(dir, 'bad.jsonl');
    writeFileSync(jsonl, '{"is_fraud":0,"card_activity__n":1,"card_activity__total":2,"card_activity__mean":3}\n{"is_fraud":1,"card_activity__n":[2],"card_activity__total":2,"card_activity__mean":3}\n');
    await assert.rejects(train(t, { data: jsonl, out: join(dir, 'bad.onnx') }), { code: 'RTML_E_TRAIN', message: `${jsonl}:2: column card_activity__n: [2] is not a number` });
  });

  it('refuses a missing or non-binary label', async (t) => {
    const csv = join(dir, 'labels.csv');
    writeFileSync(csv, 'is_fraud,card_activity__n,card_activity__total,card_activity__mean\n0,1,2,3\n,2,3,4\n');
    await assert.rejects(train(t, { data: csv, out: join(dir, 'x.onnx') }), { message: /labels\.csv:3: column is_fraud: "" is missing: every row needs a label/ });
    writeFileSync(csv, 'is_fraud,card_activity__n,card_activity__total,card_activity__mean\n0,1,2,3\n2,2,3,4\n');
    await assert.rejects(train(t, { data: csv, out: join(dir, 'x.onnx') }), { message: /labels\.csv:3: column is_fraud: "2" is not a label/ });
  });

  it('refuses an unknown column, listing the columns there are', async (t) => {
    writeTrainingSet(join(dir, 'cols.csv'), 100);
    writeTrainingSet(join(dir, 'cols.jsonl'), 100);
    for (const ext of ['csv', 'jsonl']) {
      await assert.rejects(train(t, { data: join(dir, `cols.${ext}`), features: 'card_activity__n,card_activity__nn', out: join(dir, 'x.onnx') }), {
        code: 'RTML_E_USAGE',
        message: /has no column "card_activity__nn" \(columns: entity, time, is_fraud, card_activity__n, card_activity__total, card_activity__mean\)/,
      });
    }
  });

  it('refuses bad usage before reading any data', async (t) => {
    await assert.rejects(train(t, { data: join(dir, 'nope.csv'), out: join(dir, 'model.bin') }), { message: /--out .*model\.bin: the model file name must end in \.onnx/ });
    await assert.rejects(train(t, { data: join(dir, 'nope.txt'), out: join(dir, 'm.onnx') }), { message: /--data .*nope\.txt: the file name must end in/ });
    await assert.rejects(train(t, { data: join(dir, 'nope.csv'), out: join(dir, 'm.onnx') }), { message: /--data .*nope\.csv cannot be read/ });
    await assert.rejects(train(t, { data: join(dir, 'cols.csv'), features: 'card_activity__n,,x', out: join(dir, 'm.onnx') }), { message: /none empty/ });
    await assert.rejects(train(t, { data: join(dir, 'cols.csv'), features: 'is_fraud', out: join(dir, 'm.onnx') }), { message: /must not see its label/ });
  });
});
