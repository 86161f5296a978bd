import { RtmlError } from '../../engine/errors.ts';
import { fnv1a32 } from '../../storage/index.ts';

/**
 * Which version of a model serves which entity.
 *
 * 1. With an A/B split, the split decides for every entity; otherwise the production version does.
 *    Staging and shadow versions never serve: shadows are scored beside the serving version and
 *    their results only recorded.
 * 2. An entity's bucket is `fmix32(FNV-1a 32(name + NUL + key)) mod 100`, and the split's versions
 *    own consecutive bucket ranges in ascending version order (`[{2, 90}, {3, 10}]`: buckets 0–89 →
 *    v2, 90–99 → v3). So the same key always gets the same version for a given split, and ramping
 *    a newer version up only moves entities onto it, never between the older ones.
 * 3. The model name salts the hash: the log partitions keys by plain FNV-1a, and without the salt a
 *    partition's keys would all land in the same few buckets.
 */

export interface Split {
  readonly version: number;
  /** Whole percent of entities, 1–100; a split's percentages sum to 100. */
  readonly percent: number;
}

export interface Routing {
  readonly name: string;
  /** Bumped by every change; 0 when the name was never routed. */
  readonly revision: number;
  readonly production: number | null;
  /** Production versions, oldest first, the last one current: what rollback walks back. */
  readonly productionHistory: readonly number[];
  readonly staging: readonly number[];
  /** The A/B split in ascending version order; empty when no test runs. */
  readonly ab: readonly Split[];
  readonly shadow: readonly number[];
  readonly updatedAt: Date | null;
}

export function emptyRouting(name: string): Routing {
  return { name, revision: 0, production: null, productionHistory: [], staging: [], ab: [], shadow: [], updatedAt: null };
}

/** The version that serves `entityKey`: deterministic, see above. */
export function choose(routing: Routing, entityKey: string | number): number {
  if (routing.ab.length > 0) {
    const b = bucket(routing.name, entityKey);
    let upTo = 0;
    for (const split of routing.ab) {
      upTo += split.percent;
      if (b < upTo) return split.version;
    }
    // Unreachable for a validated split (it sums to 100); the last version rather than nothing.
    return routing.ab[routing.ab.length - 1]!.version;
  }
  if (routing.production !== null) return routing.production;
  throw new RtmlError('RTML_E_REGISTRY', `model '${routing.name}' has no production version and no A/B split: promote a version first`);
}

/** The entity's bucket, 0–99, for model `name`. */
export function bucket(name: string, entityKey: string | number): number {
  return fmix32(fnv1a32(`${name}\u0000${entityKey}`)) % 100;
}

/** MurmurHash3's finaliser: FNV-1a's low bits mix poorly for short keys that differ in their last byte. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One line for people: `production v3, staging v4, A/B v3:90% v4:10%, shadow v5`. */
export function describeRouting(r: Routing): string {
  const parts = [`production ${r.production === null ? 'none' : `v${r.production}`}`];
  if (r.staging.length > 0) parts.push(`staging ${r.staging.map((v) => `v${v}`).join(' ')}`);
  if (r.ab.length > 0) parts.push(`A/B ${r.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')}`);
  if (r.shadow.length > 0) parts.push(`shadow ${r.shadow.map((v) => `v${v}`).join(' ')}`);
  return parts.join(', ');
}
