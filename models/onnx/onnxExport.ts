import type { ReferenceProfile } from '../../engine/monitoring/profile.ts';
import type { GbdtModel } from '../training/index.ts';
import { INPUT_NAME, META_FEATURES, META_LABEL, META_METRICS, META_PARAMS, META_PROFILE, META_VERSION, ML_DOMAIN, OUTPUT_NAME, onnx, type OnnxTypes } from './onnxFormat.ts';
import { RTML_VERSION } from '../../engine/packageInfo.ts';

/**
 * Exports a GBDT model as ONNX: `features` [N, F] → `ai.onnx.ml.TreeEnsembleRegressor` (v1: the
 * trees summed, plus the base score as `base_values`) → `Sigmoid` → `score` [N, 1].
 *
 * 1. Every split is `BRANCH_LEQ` with the left child as the true branch, the threshold and leaf
 *    values are the model's float32 values as they are, and `nodes_missing_value_tracks_true` is
 *    the learned missing side: ONNX Runtime routes each row as `treeValue` does.
 * 2. Metadata: `rtml.features` (JSON array, the input's column order), `rtml.label`,
 *    `rtml.metrics` and `rtml.params` (JSON), `rtml.version`, and `rtml.profile` (JSON) when the
 *    training data's reference profile is given: the model file carries what monitoring compares
 *    production data with.
 * 3. Deterministic: nothing time- or machine-dependent goes in, so the same model gives the same
 *    bytes.
 */

export interface OnnxExportOptions {
  /** Name of the label column the model predicts. */
  readonly label?: string;
  /** Training metrics to record, e.g. `{ train_auc: 0.97 }` (NaN is written as null). */
  readonly metrics?: Readonly<Record<string, number>>;
  /** The training data's reference profile. */
  readonly profile?: ReferenceProfile;
}

const IR_VERSION = 7; // ONNX 1.8: opset 13
const OPSET = 13;
const ML_OPSET = 1;
const A = onnx.AttributeProto.AttributeType;

export function gbdtToOnnx(model: GbdtModel, options: OnnxExportOptions = {}): Uint8Array {
  const f = model.features.length;
  const ensemble = treeEnsemble(model);
  const floatTensor = (name: string, dims: OnnxTypes.TensorShapeProto.IDimension[]): OnnxTypes.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims } } },
  });
  const graph: OnnxTypes.IGraphProto = {
    name: 'rtml_gbdt',
    input: [floatTensor(INPUT_NAME, [{ dimParam: 'N' }, { dimValue: f }])],
    output: [floatTensor(OUTPUT_NAME, [{ dimParam: 'N' }, { dimValue: 1 }])],
    node: [
      { opType: 'TreeEnsembleRegressor', domain: ML_DOMAIN, name: 'trees', input: [INPUT_NAME], output: ['margin'], attribute: ensemble },
      { opType: 'Sigmoid', domain: '', name: 'probability', input: ['margin'], output: [OUTPUT_NAME] },
    ],
  };
  const metadata: Record<string, string> = {
    [META_FEATURES]: JSON.stringify(model.features),
    [META_LABEL]: options.label ?? '',
    [META_METRICS]: JSON.stringify(options.metrics ?? {}),
    [META_PARAMS]: JSON.stringify(model.params),
    [META_VERSION]: RTML_VERSION,
    ...(options.profile === undefined ? {} : { [META_PROFILE]: JSON.stringify(options.profile) }),
  };
  const proto: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }, { domain: ML_DOMAIN, version: ML_OPSET }],
    producerName: 'rtml',
    producerVersion: RTML_VERSION,
    docString: `P(${options.label || 'label'} = 1) from ${model.trees.length} gradient-boosted trees`,
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(proto)).finish();
}

/** The TreeEnsembleRegressor attributes: one entry per node in the `nodes_*` lists, one per leaf in `target_*`. */
function treeEnsemble(model: GbdtModel): OnnxTypes.IAttributeProto[] {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const featureIds: number[] = [];
  const modes: Uint8Array[] = [];
  const values: number[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  const missingTrue: number[] = [];
  const targetTree: number[] = [];
  const targetNode: number[] = [];
  const targetWeight: number[] = [];
  const LEAF = bytes('LEAF');
  const BRANCH = bytes('BRANCH_LEQ');
  model.trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      const leaf = tree.feature[node]! < 0;
      treeIds.push(t);
      nodeIds.push(node);
      featureIds.push(leaf ? 0 : tree.feature[node]!);
      modes.push(leaf ? LEAF : BRANCH);
      values.push(leaf ? 0 : tree.threshold[node]!);
      trueIds.push(leaf ? 0 : tree.left[node]!);
      falseIds.push(leaf ? 0 : tree.right[node]!);
      missingTrue.push(leaf ? 0 : tree.missingLeft[node]!);
      if (leaf) {
        targetTree.push(t);
        targetNode.push(node);
        targetWeight.push(tree.value[node]!);
      }
    }
  });
  const ints = (name: string, v: number[]): OnnxTypes.IAttributeProto => ({ name, type: A.INTS, ints: v });
  const floats = (name: string, v: number[]): OnnxTypes.IAttributeProto => ({ name, type: A.FLOATS, floats: v });
  return [
    { name: 'aggregate_function', type: A.STRING, s: bytes('SUM') },
    floats('base_values', [model.baseScore]),
    { name: 'n_targets', type: A.INT, i: 1 },
    ints('nodes_falsenodeids', falseIds),
    ints('nodes_featureids', featureIds),
    ints('nodes_missing_value_tracks_true', missingTrue),
    { name: 'nodes_modes', type: A.STRINGS, strings: modes },
    ints('nodes_nodeids', nodeIds),
    ints('nodes_treeids', treeIds),
    ints('nodes_truenodeids', trueIds),
    floats('nodes_values', values),
    { name: 'post_transform', type: A.STRING, s: bytes('NONE') },
    ints('target_ids', targetTree.map(() => 0)),
    ints('target_nodeids', targetNode),
    ints('target_treeids', targetTree),
    floats('target_weights', targetWeight),
  ];
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

