import { RtmlError } from '../../engine/errors.ts';
import type { Routing, Split } from './routing.ts';

/**
 * The routing changes, as pure functions from the current routing and the versions a name has to
 * the next routing — or null when the change changes nothing (so no revision, event or notification
 * is spent on it). Refusals are RTML_E_REGISTRY errors saying why.
 *
 * Invariants kept: the production version is never also a staging or shadow version; the last entry
 * of `productionHistory` is the production version; an A/B split has two or more distinct versions
 * with whole percentages summing to 100, in ascending version order.
 */

export type Stage = 'staging' | 'production';

export interface Change {
  readonly routing: Routing;
  /** What the event log records: 'promote', 'rollback', 'ab', 'shadow'. */
  readonly action: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export function promote(current: Routing, version: number, stage: Stage, versions: readonly number[]): Change | null {
  requireKnown(current.name, [version], versions);
  if (stage === 'production') {
    if (current.production === version) return null;
    const routing: Routing = {
      ...current,
      production: version,
      productionHistory: [...current.productionHistory, version],
      staging: without(current.staging, version),
      shadow: without(current.shadow, version),
    };
    return { routing, action: 'promote', detail: { stage, from: current.production, to: version } };
  }
  if (current.production === version) {
    throw refuse(`model '${current.name}' v${version} is the production version; staging is for versions on their way there`);
  }
  if (current.staging.includes(version)) return null;
  return { routing: { ...current, staging: sorted([...current.staging, version]) }, action: 'promote', detail: { stage, to: version } };
}

/** Production goes back to the version that was production before the current one. */
export function rollback(current: Routing): Change {
  const history = current.productionHistory;
  if (current.production === null) throw refuse(`model '${current.name}' has no production version to roll back`);
  if (history.length < 2) {
    throw refuse(`model '${current.name}' cannot roll back: v${current.production} is its first production version (rolled back to, or promoted first)`);
  }
  const rest = history.slice(0, -1);
  const to = rest[rest.length - 1]!;
  const routing: Routing = { ...current, production: to, productionHistory: rest, staging: without(current.staging, to), shadow: without(current.shadow, to) };
  return { routing, action: 'rollback', detail: { from: current.production, to } };
}

/** Sets the A/B split; an empty list ends the test. */
export function setAb(current: Routing, splits: readonly Split[], versions: readonly number[]): Change | null {
  const name = current.name;
  if (splits.length === 1) throw refuse(`model '${name}': an A/B split needs two versions or more (to serve one version, promote it to production)`);
  for (const s of splits) {
    if (!Number.isInteger(s.percent) || s.percent < 1 || s.percent > 100) {
      throw refuse(`model '${name}': v${s.version} has ${s.percent} %; each version of a split takes a whole percentage from 1 to 100`);
    }
  }
  requireDistinct(name, splits.map((s) => s.version));
  requireKnown(name, splits.map((s) => s.version), versions);
  const total = splits.reduce((sum, s) => sum + s.percent, 0);
  if (splits.length > 0 && total !== 100) {
    throw refuse(`model '${name}': the split's percentages sum to ${total}, not 100 (${splits.map((s) => `v${s.version}:${s.percent}`).join(' ')})`);
  }
  const ab = [...splits].sort((a, b) => a.version - b.version).map((s) => ({ version: s.version, percent: s.percent }));
  if (sameSplits(ab, current.ab)) return null;
  return { routing: { ...current, ab }, action: 'ab', detail: { from: current.ab, to: ab } };
}

/** Sets the shadow versions; an empty list ends shadowing. */
export function setShadow(current: Routing, shadow: readonly number[], versions: readonly number[]): Change | null {
  const name = current.name;
  requireDistinct(name, shadow);
  requireKnown(name, shadow, versions);
  if (current.production !== null && shadow.includes(current.production)) {
    throw refuse(`model '${name}' v${current.production} is the production version; shadows are scored beside it, so name other versions`);
  }
  const next = sorted(shadow);
  if (next.length === current.shadow.length && next.every((v, i) => v === current.shadow[i])) return null;
  return { routing: { ...current, shadow: next }, action: 'shadow', detail: { from: current.shadow, to: next } };
}

function requireKnown(name: string, wanted: readonly number[], versions: readonly number[]): void {
  const unknown = wanted.filter((v) => !versions.includes(v));
  if (unknown.length === 0) return;
  const have = versions.length === 0 ? 'none registered' : `registered: ${versions.map((v) => `v${v}`).join(', ')}`;
  throw refuse(`model '${name}' has no version ${unknown.map((v) => `v${v}`).join(', ')} (${have})`);
}

function requireDistinct(name: string, wanted: readonly number[]): void {
  const twice = wanted.find((v, i) => wanted.indexOf(v) !== i);
  if (twice !== undefined) throw refuse(`model '${name}': v${twice} is named twice`);
}

function sameSplits(a: readonly Split[], b: readonly Split[]): boolean {
  return a.length === b.length && a.every((s, i) => s.version === b[i]!.version && s.percent === b[i]!.percent);
}

function without(list: readonly number[], v: number): readonly number[] {
  return list.includes(v) ? list.filter((x) => x !== v) : list;
}

function sorted(list: readonly number[]): number[] {
  return [...list].sort((a, b) => a - b);
}

function refuse(message: string): RtmlError {
  return new RtmlError('RTML_E_REGISTRY', message);
}
