/**
 * The training data every model file works on: a dense row-major matrix of numbers, one column per
 * feature in a fixed order, NaN where a value is missing, and a 0/1 label per row. Typed arrays and
 * no per-row objects, so 100k × 20 rows are 16 MB in one allocation.
 */

export interface FeatureMatrix {
  /** Feature names, in column order (the ONNX input's column order too). */
  readonly features: readonly string[];
  readonly rows: number;
  /** `rows × features.length` values, row-major; NaN = missing. */
  readonly values: Float64Array;
}

export interface LabelledData {
  readonly matrix: FeatureMatrix;
  /** One 0/1 label per row. */
  readonly labels: Uint8Array;
}

export function featureMatrix(features: readonly string[], rows: number, values?: Float64Array): FeatureMatrix {
  const size = rows * features.length;
  if (values !== undefined && values.length !== size) {
    throw new RangeError(`a ${rows} × ${features.length} matrix needs ${size} values, got ${values.length}`);
  }
  return { features, rows, values: values ?? new Float64Array(size) };
}

/** Rows `[from, to)` of `data`, sharing its memory (subarray, no copy). */
export function sliceRows(data: LabelledData, from: number, to: number): LabelledData {
  const { matrix } = data;
  const f = matrix.features.length;
  return {
    matrix: { features: matrix.features, rows: to - from, values: matrix.values.subarray(from * f, to * f) },
    labels: data.labels.subarray(from, to),
  };
}

/** Column `j` of the matrix, copied out (row order). */
export function column(matrix: FeatureMatrix, j: number): Float64Array {
  const f = matrix.features.length;
  const out = new Float64Array(matrix.rows);
  for (let i = 0; i < matrix.rows; i++) out[i] = matrix.values[i * f + j]!;
  return out;
}
