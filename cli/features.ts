import { RtmlError } from '../engine/errors.ts';
import { exportTrainingSet } from '../connectors/features/export.ts';
import { getOnlineFeatures } from '../connectors/features/featureStore.ts';
import { offlineStoreFromUri, onlineStoreFromUri } from '../connectors/features/uri.ts';
import { logLine } from '../engine/log.ts';

/** `rtml features …`: look up online values, list views, export point-in-time training sets. */

export interface FeaturesGetOptions {
  online: string;
}

/** `rtml features get <view> <key…>`: one JSON line per key, `values: null` when it has none. */
export async function featuresGetCommand(view: string, keys: string[], options: FeaturesGetOptions): Promise<void> {
  if (options.online === 'memory:') {
    throw new RtmlError('RTML_E_USAGE', 'features get: memory: lives inside a run; name the online store the run writes to (--online redis://host:port)');
  }
  if (keys.length === 0) throw new RtmlError('RTML_E_USAGE', 'features get: name at least one entity key');
  const store = onlineStoreFromUri(options.online);
  try {
    const found = await getOnlineFeatures(store, view, keys);
    const lines = keys.map((entity, i) => JSON.stringify({ entity, time: found[i]?.time ?? null, values: found[i]?.values ?? null }));
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await store.close();
  }
}

export interface FeaturesListOptions {
  offline: string;
}

/** `rtml features list`: the views registered in the offline store. */
export async function featuresListCommand(options: FeaturesListOptions): Promise<void> {
  const store = offlineStoreFromUri(options.offline);
  try {
    const views = await store.views();
    if (views.length === 0) process.stdout.write(`${store.description}: no feature views\n`);
    for (const v of views) {
      const ttl = Number.isFinite(v.ttl) ? `, ttl ${v.ttl} ms` : '';
      process.stdout.write(`${v.name}: entity ${v.entity}, time ${v.time}, features ${v.features.join(', ')}${ttl}\n`);
    }
  } finally {
    await store.close();
  }
}

export interface FeaturesExportOptions {
  view: string[];
  labels: string;
  out: string;
  offline: string;
  entity?: string;
  time?: string;
}

/** `rtml features export`: label rows joined with feature values as of their time. */
export async function featuresExportCommand(options: FeaturesExportOptions): Promise<void> {
  const store = offlineStoreFromUri(options.offline);
  try {
    const summary = await exportTrainingSet({ offline: store, views: options.view, labels: options.labels, out: options.out, entity: options.entity, time: options.time });
    const gaps = Object.entries(summary.missing)
      .filter(([, n]) => n > 0)
      .map(([view, n]) => `${view}: ${n.toLocaleString('en-US')} label(s) without values`);
    logLine(
      `rtml: features export: ${summary.rows.toLocaleString('en-US')} row(s), ${summary.columns.length} column(s) to ${options.out}` +
        `${gaps.length > 0 ? ` (${gaps.join('; ')})` : ''}`,
    );
  } finally {
    await store.close();
  }
}
