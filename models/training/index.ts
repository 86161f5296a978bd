/** Training gradient-boosted trees from tables: the package's public API, in one import. */
export { auc, logloss } from './evaluate.ts';
export { predictProbability, trainGbdt, type GbdtModel, type GbdtParams } from './gbdt.ts';
export { holdoutSplit, type HoldoutSplit } from './holdout.ts';
export { column, featureMatrix, type FeatureMatrix, type LabelledData } from './matrix.ts';
export { readTrainingData, type TableSpec } from './readTable.ts';
export { mulberry32, xorData, type SyntheticOptions } from './synthetic.ts';
export type { Tree } from './tree.ts';
