/**
 * Models a topology scores with by name (`score('registry:fraud', …)`), provided by the run (the
 * CLI binds the model registry; engine/ never imports it). A handle's routing can change while the
 * run goes on — a promotion, a rollback, an A/B split — and score() takes the current one for each
 * micro-batch, so a swap happens between batches: no event is scored twice or left out.
 */

/** One loaded model version. */
export interface ScoringModel {
  /** As results carry it, e.g. 'v3'. */
  readonly version: string;
  readonly featureCount: number;
  /** Scores `rows` rows of `values` (row-major); one score per row. */
  score(values: Float32Array, rows: number): Float32Array;
}

/** A model's routing at one moment: who serves an entity, and what shadows it. */
export interface ModelRouting {
  serving(entity: string): ScoringModel;
  /** Scored beside the serving version, results recorded, never returned. */
  readonly shadows: readonly ScoringModel[];
  /** True when who serves depends on the entity (an A/B split): events then need a key. */
  readonly split?: boolean;
}

export interface ModelHandle {
  current(): ModelRouting;
  close(): Promise<void>;
}

export interface ModelProvider {
  /** Loads the model's routed versions (checked against `features`) and follows its routing. */
  open(name: string, features: readonly string[]): Promise<ModelHandle>;
}
