import { RtmlError } from '../engine/errors.ts';
import { exportTrainingSet } from '../connectors/features/export.ts';
import { readLabels } from '../connectors/features/labels.ts';
import { offlineStoreFromUri } from '../connectors/features/uri.ts';
import { openRegistry } from '../models/registry/index.ts';
import { monitoringRecorder } from '../monitoring/postgresRecorder.ts';
import { loadPolicy, runRetrain, type RetrainDeps, type RetrainOutcome, type RetrainStep } from '../models/retrain/index.ts';

/**
 * `rtml retrain --policy policy.yaml [--force]`: one pass of the retraining loop
 * (models/retrain/retrain.ts). Prints one line per step on stdout (the outcome as one JSON line
 * with --json); a failed step is the error rtml exits non-zero with, production left as it was.
 */

export interface RetrainCommandOptions extends RetrainStores {
  policy: string;
  force?: boolean;
  json?: boolean;
  /** Where the output lines go (default stdout): for tests. */
  print?: (line: string) => void;
}

export async function retrainCommand(options: RetrainCommandOptions): Promise<RetrainOutcome> {
  const policy = loadPolicy(options.policy);
  const say = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const { deps, close } = openRetrainDeps(options);
  try {
    const onStep = (step: RetrainStep) => {
      if (step.ok && !options.json) say(step.line);
    };
    const outcome = await runRetrain(policy, { ...deps, onStep }, { force: options.force });
    if (options.json) say(JSON.stringify(outcome));
    if (outcome.failure !== null) throw new RtmlError(outcome.failure.code, outcome.steps.at(-1)!.line);
    return outcome;
  } finally {
    await close();
  }
}

export interface RetrainStores {
  registry: string;
  artifacts: string;
  offline: string;
  /** Where the monitor writes rtml_drift and rtml_accuracy (`rtml monitor --monitor-db`); default: the registry's database. */
  monitorDb?: string;
}

/** What runRetrain works with, opened from URIs; close() closes them all. */
export function openRetrainDeps(stores: RetrainStores): { deps: RetrainDeps; close: () => Promise<void> } {
  const registry = openRegistry(stores.registry, stores.artifacts);
  // The monitor's own connection to its history (the URI checked as --monitor-db), only read here.
  const monitoring = monitoringRecorder(stores.monitorDb ?? stores.registry);
  const offline = offlineStoreFromUri(stores.offline);
  return {
    deps: { registry, monitoring: monitoring.sql, data: { readLabels, exportTrainingSet: (request) => exportTrainingSet({ ...request, offline }) } },
    close: async () => void (await Promise.all([registry.close(), monitoring.close(), offline.close()])),
  };
}
