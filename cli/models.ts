import type { ReferenceProfile } from '../engine/monitoring/profile.ts';
import { RtmlError } from '../engine/errors.ts';
import { describeRouting, openRegistry, type ModelVersion, type Registered, type Registry, type Routing, type RoutingEvent, type RoutingUpdate, type Split, type Stage } from '../models/registry/index.ts';

/**
 * `rtml models …`: register ONNX models and route them. Each action prints one line on stdout;
 * `list` prints a table (or JSON lines with --json). Versions are written `3` or `v3`.
 */

export interface RegistryFlags {
  /** `postgres://user@host:port/db` or `pglite:<dir>`. */
  registry: string;
  /** Artifact directory. */
  artifacts: string;
  /** Where the output lines go (default stdout): for embedding the commands and for tests. */
  print?: (line: string) => void;
}

export interface ModelsRegisterOptions extends RegistryFlags {
  stage?: string;
  /** Comma-separated feature names, in the model's column order. */
  features?: string;
  featureChange?: string;
}

/** `rtml models register <name> <file.onnx> [--stage S] [--features a,b] [--feature-change WHY]` */
export async function modelsRegisterCommand(name: string, file: string, options: ModelsRegisterOptions): Promise<Registered> {
  const stage = options.stage === undefined ? undefined : parseStage(options.stage);
  const features = options.features === undefined ? undefined : parseFeatures(options.features);
  return withRegistry(options, async (registry, say) => {
    const r = await registry.register(name, file, { stage, features, featureChange: options.featureChange });
    const v = r.version;
    const what = r.created ? `registered ${name} v${v.version}` : `${name} v${v.version} already has these bytes`;
    const staged = stage === undefined ? '' : `; ${stageText(stage, v.version, r.routing)}`;
    const change = r.created && v.featureChange !== null ? `; feature list changed: ${v.featureChange}` : '';
    say(`${what} (sha256 ${v.sha256.slice(0, 12)}, ${v.featureCount} features: ${v.features.join(', ')}${metricsText(v)})${staged}${change}`);
    return r;
  });
}

export interface ModelsListOptions extends RegistryFlags {
  json?: boolean;
}

/** `rtml models list [name] [--json]`: every version with its roles in the routing. */
export async function modelsListCommand(name: string | undefined, options: ModelsListOptions): Promise<void> {
  await withRegistry(options, async (registry, say) => {
    const versions = await registry.list(name);
    const routings = new Map<string, Routing>();
    for (const n of new Set(versions.map((v) => v.name))) routings.set(n, await registry.routing(n));
    const rows = versions.map((v) => ({ version: v, roles: roles(routings.get(v.name)!, v.version) }));
    if (options.json) {
      for (const { version: v, roles } of rows) say(JSON.stringify({ ...v, createdAt: v.createdAt.toISOString(), roles }));
      return;
    }
    if (rows.length === 0) return say(`${registry.description}: no models${name === undefined ? '' : ` named '${name}'`}`);
    const table = [['NAME', 'VERSION', 'ROLES', 'SHA256', 'FEATURES', 'CREATED', 'METRICS']];
    for (const { version: v, roles } of rows) {
      table.push([v.name, `v${v.version}`, roles.join(',') || '-', v.sha256.slice(0, 12), String(v.featureCount), v.createdAt.toISOString(), metricsText(v).replace(/^, /, '') || '-']);
    }
    printTable(table, say);
  });
}

/** `rtml models history <name> [--json]`: the audit history — versions registered, routing changes, retraining decisions — with who and when. */
export async function modelsHistoryCommand(name: string, options: RegistryFlags & { json?: boolean }): Promise<RoutingEvent[]> {
  return withRegistry(options, async (registry, say) => {
    const events = await registry.history(name);
    if (options.json) {
      for (const e of events) say(JSON.stringify({ ...e, at: e.at.toISOString() }));
      return events;
    }
    if (events.length === 0) {
      say(`${registry.description}: no history for '${name}'`);
      return events;
    }
    const table = [['AT', 'REVISION', 'ACTION', 'ACTOR', 'DETAIL']];
    for (const e of events) table.push([e.at.toISOString(), String(e.revision), e.action, e.actor ?? '-', JSON.stringify(e.detail)]);
    printTable(table, say);
    return events;
  });
}

/** `rtml models profile <name> <version> [--json]`: the reference profile its training data left. */
export async function modelsProfileCommand(name: string, version: string, options: RegistryFlags & { json?: boolean }): Promise<ReferenceProfile | null> {
  const v = parseVersion(version);
  return withRegistry(options, async (registry, say) => {
    const profile = await registry.profile(name, v);
    if (options.json) {
      say(JSON.stringify(profile));
      return profile;
    }
    if (profile === null) {
      say(`${name} v${v}: no reference profile (its model file records none: train it with rtml train to have one)`);
      return profile;
    }
    say(`${name} v${v}: reference profile of ${profile.rows.toLocaleString('en-US')} training rows`);
    const num = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : String(Number(x.toFixed(4))));
    const table = [['FEATURE', 'KIND', 'COUNT', 'NULL RATE', 'MEAN', 'STD', 'MIN', 'P50', 'MAX', 'TOP VALUES']];
    for (const f of profile.score === undefined ? profile.features : [...profile.features, profile.score]) {
      const nullRate = num(f.nulls / Math.max(1, f.count + f.nulls));
      if (f.kind === 'numeric') {
        const p50 = f.quantiles.length > 0 ? f.quantiles[Math.floor((f.quantiles.length - 1) / 2)]! : null;
        table.push([f === profile.score ? 'score (held out)' : f.name, 'numeric', String(f.count), nullRate, num(f.mean), num(f.std), num(f.min), num(p50), num(f.max), '']);
      } else {
        const top = Object.entries(f.frequencies).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([value, n]) => `${value}:${n}`).join(' ');
        table.push([f.name, 'categorical', String(f.count), nullRate, '', '', '', '', '', top]);
      }
    }
    printTable(table, say);
    return profile;
  });
}

/** Prints rows as columns padded to their widest cell (the last column unpadded). */
function printTable(table: readonly string[][], say: (line: string) => void): void {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) say(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
}

/** `rtml models promote <name> <version> --stage production|staging` */
export async function modelsPromoteCommand(name: string, version: string, options: RegistryFlags & { stage: string }): Promise<RoutingUpdate> {
  const stage = parseStage(options.stage);
  const v = parseVersion(version);
  return withRegistry(options, async (registry, say) => {
    const u = await registry.promote(name, v, stage);
    if (!u.changed) say(`${name}: v${v} is already ${stage === 'production' ? 'the production version' : 'in staging'}`);
    else if (stage === 'production') say(`${name}: production ${versionText(u.previous.production)} → v${v}${productionNotes(u)}`);
    else say(`${name}: ${stageText(stage, v, u.routing)}`);
    return u;
  });
}

/** `rtml models rollback <name>` */
export async function modelsRollbackCommand(name: string, options: RegistryFlags): Promise<RoutingUpdate> {
  return withRegistry(options, async (registry, say) => {
    const u = await registry.rollback(name);
    say(`${name}: production v${u.previous.production} → v${u.routing.production} (rollback)${productionNotes(u)}`);
    return u;
  });
}

/** `rtml models ab <name> <vA>:<pct> <vB>:<pct>…`, or `ab <name> none` to end the split. */
export async function modelsAbCommand(name: string, splits: string[], options: RegistryFlags): Promise<RoutingUpdate> {
  const parsed = isNone(splits) ? [] : splits.map(parseSplit);
  return withRegistry(options, async (registry, say) => {
    const u = await registry.ab(name, parsed);
    const now = u.routing.ab.length === 0 ? 'no A/B split' : `A/B ${u.routing.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')}`;
    say(`${name}: ${now}${u.changed ? '' : ' (unchanged)'}`);
    return u;
  });
}

/** `rtml models shadow <name> <version…>`, or `shadow <name> none` to end shadowing. */
export async function modelsShadowCommand(name: string, versions: string[], options: RegistryFlags): Promise<RoutingUpdate> {
  const parsed = isNone(versions) ? [] : versions.map(parseVersion);
  return withRegistry(options, async (registry, say) => {
    const u = await registry.shadow(name, parsed);
    const now = u.routing.shadow.length === 0 ? 'no shadow versions' : `shadow ${u.routing.shadow.map((v) => `v${v}`).join(' ')}`;
    say(`${name}: ${now}${u.changed ? '' : ' (unchanged)'}`);
    return u;
  });
}

/** `rtml models routing <name>`: the current routing in one line (JSON with --json). */
export async function modelsRoutingCommand(name: string, options: RegistryFlags & { json?: boolean }): Promise<Routing> {
  return withRegistry(options, async (registry, say) => {
    const r = await registry.routing(name);
    say(options.json ? JSON.stringify(r) : `${name}: ${describeRouting(r)} (revision ${r.revision})`);
    return r;
  });
}

async function withRegistry<T>(flags: RegistryFlags, work: (registry: Registry, say: (line: string) => void) => Promise<T>): Promise<T> {
  const say = flags.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const registry = openRegistry(flags.registry, flags.artifacts);
  try {
    return await work(registry, say);
  } finally {
    await registry.close();
  }
}

/** What a version is in the routing: production, staging, ab:<pct>, shadow. */
function roles(r: Routing, version: number): string[] {
  const out: string[] = [];
  if (r.production === version) out.push('production');
  if (r.staging.includes(version)) out.push('staging');
  const split = r.ab.find((s) => s.version === version);
  if (split !== undefined) out.push(`ab:${split.percent}%`);
  if (r.shadow.includes(version)) out.push('shadow');
  return out;
}

function stageText(stage: Stage, version: number, r: Routing): string {
  if (stage === 'production') return `production v${version}${abNote(r)}`;
  return `staging ${r.staging.map((v) => `v${v}`).join(' ')} (added v${version})`;
}

/** What else a production change did: a new production version leaves staging and the shadows. */
function productionNotes(u: RoutingUpdate): string {
  const v = u.routing.production;
  const left = [u.previous.staging.includes(v!) ? 'staging' : '', u.previous.shadow.includes(v!) ? 'the shadows' : ''].filter(Boolean);
  return `${left.length === 0 ? '' : ` (v${v} leaves ${left.join(' and ')})`}${abNote(u.routing)}`;
}

/** Production does not serve while an A/B split runs: say so when production changes. */
function abNote(r: Routing): string {
  return r.ab.length === 0 ? '' : ` (the A/B split ${r.ab.map((s) => `v${s.version}:${s.percent}%`).join(' ')} still decides who is served)`;
}

function metricsText(v: ModelVersion): string {
  if (v.metrics === null) return '';
  const shown = Object.entries(v.metrics)
    .filter(([k]) => /auc|logloss/.test(k))
    .map(([k, x]) => `${k} ${x === null ? 'n/a' : Number(x.toFixed(4))}`);
  return shown.length === 0 ? '' : `, ${shown.join(', ')}`;
}

function versionText(v: number | null): string {
  return v === null ? 'none' : `v${v}`;
}

function isNone(args: string[]): boolean {
  return args.length === 1 && args[0]!.toLowerCase() === 'none';
}

function parseStage(text: string): Stage {
  if (text === 'production' || text === 'staging') return text;
  throw new RtmlError('RTML_E_USAGE', `--stage ${text}: expected production or staging`);
}

function parseVersion(text: string): number {
  const m = /^v?(\d+)$/i.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new RtmlError('RTML_E_USAGE', `version ${JSON.stringify(text)}: expected a version number such as 3 or v3`);
  return n;
}

function parseSplit(text: string): Split {
  const m = /^(v?\d+):(\d+(?:\.\d+)?)%?$/i.exec(text.trim());
  if (!m) throw new RtmlError('RTML_E_USAGE', `split ${JSON.stringify(text)}: expected <version>:<percent>, e.g. 2:90 3:10`);
  return { version: parseVersion(m[1]!), percent: Number(m[2]) };
}

function parseFeatures(text: string): string[] {
  const features = text.split(',').map((f) => f.trim());
  if (features.some((f) => f === '')) throw new RtmlError('RTML_E_USAGE', `--features ${text}: expected comma-separated feature names, none empty`);
  return features;
}
