import type { FeatureRow, FeatureValue, FeatureView } from '../../engine/features.ts';

/**
 * The two kinds of feature store behind a run's FeatureStore (featureStore.ts):
 *
 * - an **online** store keeps the latest values per entity and view, for serving (one round trip
 *   for many entities);
 * - an **offline** store keeps every versioned value with its event time, for point-in-time
 *   correct training sets (export.ts).
 *
 * Both take batches of rows and are idempotent: writing the same batch twice leaves the same state,
 * so a run restarted from its last checkpoint may rewrite rows freely.
 */

/** The latest values of one entity in one view, and the event time they are valid from. */
export interface OnlineFeatures {
  time: number;
  values: Record<string, FeatureValue>;
}

export interface OnlineStore {
  /** The URI it was made from (password hidden), for messages. */
  readonly description: string;
  /**
   * Stores each row as its entity's latest values unless the entity already holds values with a
   * later time (newer wins; at equal times the last row written wins, so `emit: 'update'` results
   * of one window replace each other). A finite view ttl makes an entity's values expire `ttl` ms
   * after the write that last changed them.
   */
  write(view: FeatureView, rows: readonly FeatureRow[]): Promise<void>;
  /** The latest values of each entity, in the order asked; null where there are none. */
  get(view: string, entities: readonly string[]): Promise<(OnlineFeatures | null)[]>;
  close(): Promise<void>;
}

/** One label row's keys for a point-in-time join. */
export interface LabelKey {
  entity: string;
  /** Epoch ms: the join takes feature values with event time <= this. */
  time: number;
}

/** One feature column of a point-in-time join: `values[i]` belongs to label `i`. */
export interface AsOfColumn {
  view: string;
  feature: string;
  values: FeatureValue[];
}

/** A view as the offline store's registry knows it. */
export interface RegisteredView {
  name: string;
  entity: string;
  time: string;
  features: string[];
  /** ms; Infinity for none. */
  ttl: number;
}

export interface OfflineStore {
  readonly description: string;
  /** Creates the view's table and registry entry, or adds the columns of features it gained. */
  ensureView(view: FeatureView): Promise<void>;
  /** Upserts rows by (entity, time); within one batch the last row of a key wins. */
  write(view: FeatureView, rows: readonly FeatureRow[]): Promise<void>;
  /** The most recent row of each entity, in the order asked; null where there is none. */
  latest(view: string, entities: readonly string[]): Promise<(OnlineFeatures | null)[]>;
  /** Views registered by ensureView, by name. */
  views(): Promise<RegisteredView[]>;
  /**
   * For each view and label: the view's feature values as of the label's time (the row with the
   * greatest event time <= the label time, and within the view's ttl), nulls when there is none.
   * Columns come view by view, features in registry order.
   */
  asOf(views: readonly string[], labels: readonly LabelKey[]): Promise<AsOfColumn[]>;
  close(): Promise<void>;
}

/** `rtml:fv:<view>:<entity>`: the Redis hash of one entity's values in one view. */
export function onlineKey(view: string, entity: string): string {
  return `rtml:fv:${view}:${entity}`;
}
