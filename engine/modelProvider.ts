import type { ReferenceProfile } from './monitoring/profile.ts';

/**
 * The models a topology scores with (`score('fraud.onnx', …)`, `score('registry:fraud', …)`),
 * provided by the run (RunOptions.models): the CLI binds one that loads ONNX files and the model
 * registry (models/), so engine/ never loads a model itself. A handle's routing can change while the
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

/** Where a model file is named, for lookups and messages. */
export interface ModelFileSite {
  /** The topology file's directory: relative paths are looked up there first, then in the working directory. */
  readonly baseDir: string;
  /** The operator naming it, e.g. `score('fraud.onnx') at topology.ts:12:5`, prefixing messages. */
  readonly what: string;
}

/** The reference profiles of a registered model's versions (monitor()), kept current as versions are registered. */
export interface ProfileSet {
  /** The model's feature names (its latest version's, in column order). */
  readonly features: readonly string[];
  /** The profile of a version as score() writes it ('v3'): null when its model recorded none, undefined when not known (yet). */
  get(version: string): ReferenceProfile | null | undefined;
  close(): Promise<void>;
}

export interface ModelProvider {
  /** Loads the registered model `name` (`score('registry:NAME')`) checked against `features`, and follows its routing. */
  open(name: string, features: readonly string[]): Promise<ModelHandle>;
  /** Loads the model file `path` (`score('path/model.onnx')`) checked against `features`; absent when the provider has registered models only. */
  openFile?(path: string, features: readonly string[], site: ModelFileSite): Promise<ModelHandle>;
  /** The reference profiles of the registered model `name` (`monitor('registry:NAME')`); absent when the provider has no registry. */
  profiles?(name: string): Promise<ProfileSet>;
}
