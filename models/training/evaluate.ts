/**
 * Metrics of a binary classifier's scores against 0/1 labels: the same functions online monitoring
 * computes (engine/monitoring/accuracy.ts), so a model's training figures and its figures in
 * production are measured alike — AUC exact with ties counted half, log loss with p clipped to
 * [1e-15, 1 − 1e-15].
 */
export { rocAuc as auc, logLoss as logloss } from '../../engine/monitoring/accuracy.ts';
