/**
 * One trained regression tree, as flat typed arrays indexed by node id (the root is node 0, nodes
 * in pre-order). Every number in it is float32-representable, because that is what the ONNX
 * `TreeEnsembleRegressor` stores: the TypeScript model and the exported one are the same model.
 *
 * Routing a value `v` at a split node: missing (NaN) goes to the learned default side
 * (`missingLeft`); otherwise `fround(v) <= threshold` goes left, else right — ONNX `BRANCH_LEQ`
 * with the left child as the true branch.
 */
export interface Tree {
  /** Feature column of a split node; -1 marks a leaf. */
  readonly feature: Int32Array;
  /** Split threshold (a float32 value). */
  readonly threshold: Float64Array;
  /** 1 when missing values go left (the true branch). */
  readonly missingLeft: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Leaf value: the learning rate already applied, a float32 value. */
  readonly value: Float64Array;
}

/** The leaf value of `tree` for the row starting at `offset` in the row-major `values`. */
export function treeValue(tree: Tree, values: Float64Array, offset: number): number {
  let node = 0;
  let f = tree.feature[0]!;
  while (f >= 0) {
    const v = values[offset + f]!;
    const goLeft = Number.isNaN(v) ? tree.missingLeft[node] === 1 : Math.fround(v) <= tree.threshold[node]!;
    node = goLeft ? tree.left[node]! : tree.right[node]!;
    f = tree.feature[node]!;
  }
  return tree.value[node]!;
}

/** Growable node lists while a tree is built; `freeze` turns them into a Tree. */
export class TreeBuilder {
  private readonly feature: number[] = [];
  private readonly threshold: number[] = [];
  private readonly missingLeft: number[] = [];
  private readonly left: number[] = [];
  private readonly right: number[] = [];
  private readonly value: number[] = [];

  /** Adds a node (a leaf until `split` is called on it) and returns its id. */
  add(value: number): number {
    this.feature.push(-1);
    this.threshold.push(0);
    this.missingLeft.push(0);
    this.left.push(-1);
    this.right.push(-1);
    this.value.push(Math.fround(value));
    return this.feature.length - 1;
  }

  split(node: number, feature: number, threshold: number, missingLeft: boolean, left: number, right: number): void {
    this.feature[node] = feature;
    this.threshold[node] = Math.fround(threshold);
    this.missingLeft[node] = missingLeft ? 1 : 0;
    this.left[node] = left;
    this.right[node] = right;
    this.value[node] = 0;
  }

  leafValue(node: number): number {
    return this.value[node]!;
  }

  freeze(): Tree {
    return {
      feature: Int32Array.from(this.feature),
      threshold: Float64Array.from(this.threshold),
      missingLeft: Uint8Array.from(this.missingLeft),
      left: Int32Array.from(this.left),
      right: Int32Array.from(this.right),
      value: Float64Array.from(this.value),
    };
  }
}
