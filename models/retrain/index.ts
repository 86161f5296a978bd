/** Training and retraining models: the package's public API, in one import. */
export { trainModel, type TrainedModel } from './trainModel.ts';
export type { Metric, MetricName } from './metric.ts';
export { loadPolicy, parsePolicy, type AccuracyTrigger, type RetrainPolicy } from './policy.ts';
export { RETRAIN_ACTIONS, runRetrain, type RetrainDecision, type RetrainDeps, type RetrainOptions, type RetrainOutcome, type RetrainStep, type StepName } from './retrain.ts';
export type { Comparison } from './compare.ts';
export type { LabelRows, TrainingData, TrainingSetExport } from './trainingSet.ts';
export { checkTriggers, type TriggerCheck, type TriggerContext, type TriggerName } from './triggers.ts';
