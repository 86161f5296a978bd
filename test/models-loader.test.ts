import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { trainGbdt, xorData } from '../models/training/index.ts';
import { gbdtToOnnx, loadOnnxModel, onnx } from '../models/onnx/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'rtml-models-loader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = trainGbdt(xorData({ rows: 1_000, features: 3, seed: 1 }), { trees: 5 });
const bytes = gbdtToOnnx(model, { label: 'y' });
const file = (name: string, content: Uint8Array | string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** The exported model with `edit` applied to its decoded protobuf. */
function edited(edit: (m: ReturnType<typeof onnx.ModelProto.decode>) => void): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  edit(m);
  return onnx.ModelProto.encode(m).finish();
}

describe('loadOnnxModel', () => {
  it('accepts the exported model from a file, with or without a declared feature list', () => {
    const path = file('ok.onnx', bytes);
    assert.equal(loadOnnxModel(path).featureCount, 3);
    assert.deepEqual(loadOnnxModel(path, { features: ['x0', 'x1', 'x2'] }).features, ['x0', 'x1', 'x2']);
  });

  it('refuses a corrupt or truncated file, and a file that is not ONNX, saying so', () => {
    assert.throws(() => loadOnnxModel(file('truncated.onnx', bytes.subarray(0, bytes.length >> 1))), { code: 'RTML_E_MODEL', message: /truncated\.onnx: not an ONNX model/ });
    assert.throws(() => loadOnnxModel(file('text.onnx', 'card_id,amount\ncard-1,12.5\n')), { code: 'RTML_E_MODEL', message: /text\.onnx: not an ONNX model/ });
    assert.throws(() => loadOnnxModel(file('empty.onnx', '')), { code: 'RTML_E_MODEL', message: /no graph/ });
    assert.throws(() => loadOnnxModel(join(dir, 'absent.onnx')), { code: 'RTML_E_MODEL', message: /absent\.onnx: cannot be read/ });
  });

  it('refuses a feature-count mismatch, naming both lists', () => {
    assert.throws(() => loadOnnxModel(bytes, { features: ['x0', 'x1'] }), {
      code: 'RTML_E_MODEL',
      message: 'model: takes 3 feature(s) [x0, x1, x2], but 2 are declared [x0, x1]',
    });
  });

  it('refuses the right count with other names or another order', () => {
    assert.throws(() => loadOnnxModel(bytes, { features: ['x0', 'x2', 'x1'], name: 'fraud.onnx' }), {
      code: 'RTML_E_MODEL',
      message: /fraud\.onnx: feature 2 is "x1" in the model but "x2" is declared/,
    });
  });

  it('checks only the count when the model records no feature names', () => {
    const anonymous = edited((m) => (m.metadataProps = m.metadataProps.filter((p) => p.key !== 'rtml.features')));
    assert.equal(loadOnnxModel(anonymous, { features: ['a', 'b', 'c'] }).features, null);
    assert.throws(() => loadOnnxModel(anonymous, { features: ['a'] }), { message: /takes 3 feature\(s\), but 1 are declared/ });
  });

  it('refuses a wrong input name, element type or shape, and a missing score output', () => {
    assert.throws(() => loadOnnxModel(edited((m) => (m.graph!.input![0]!.name = 'X'))), { message: /expected one input "features", found "X" \(float \[N, 3\]\)/ });
    assert.throws(() => loadOnnxModel(edited((m) => (m.graph!.input![0]!.type!.tensorType!.elemType = onnx.TensorProto.DataType.DOUBLE))), {
      message: /input "features" must be float \[N, F\], is double \[N, 3\]/,
    });
    assert.throws(() => loadOnnxModel(edited((m) => (m.graph!.input![0]!.type!.tensorType!.shape!.dim = [{ dimParam: 'N' }]))), { message: /must be float \[N, F\], is float \[N\]/ });
    assert.throws(() => loadOnnxModel(edited((m) => (m.graph!.input![0]!.type!.tensorType!.shape!.dim![1] = onnx.TensorShapeProto.Dimension.create({ dimParam: 'F' })))), {
      message: /fixed feature count/,
    });
    assert.throws(() => loadOnnxModel(edited((m) => (m.graph!.output![0]!.name = 'probability'))), { message: /expected an output "score", found "probability"/ });
  });
});
