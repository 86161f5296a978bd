import { map, type Observable } from 'rxjs';
import { parseDuration } from '../engine/duration.ts';
import { errorMessage, RtmlError } from '../engine/errors.ts';
import { defineTopology, intervalJoin, keyBy, monitor, monitorAccuracy, tumbling, type Topology } from '../engine/index.ts';
import { DEFAULT_OFFLINE } from '../connectors/features/uri.ts';
import { DEFAULT_ARTIFACTS, DEFAULT_REGISTRY } from '../models/registry/index.ts';
import { loadPolicy, runRetrain } from '../models/retrain/index.ts';
import { openRetrainDeps, type RetrainStores } from './retrain.ts';
import { runCommand, type RunCommandOptions } from './run.ts';
import { logLine } from '../engine/log.ts';

/**
 * `rtml monitor <model> --source predictions=URI [--source outcomes=URI --label is_fraud]`: watches a
 * model in production (docs/monitoring.md). Its predictions (score()'s output: features, score,
 * version) are compared with each version's reference profile per window — drift records to the
 * `drift` sink, gauges, and rows in the monitoring database — and, given outcomes, joined with them
 * in event time for online accuracy per version (`accuracy` sink, gauges, rows). With
 * `--retrain policy.yaml` it also runs a pass of the retraining policy (`rtml retrain`) every
 * `--retrain-every`; its training runs on a worker thread, so it never stalls the monitoring.
 */

export interface MonitorCommandOptions extends Omit<RunCommandOptions, 'monitorDb'> {
  window: string;
  /** The predictions' event-time field. */
  time: string;
  outOfOrder: string;
  /** The outcome field of the outcomes stream (enables online accuracy). */
  label?: string;
  /** The field predictions and outcomes share (default txn_id). */
  joinBy: string;
  /** How long after a prediction its outcome may come. */
  labelWithin: string;
  threshold: number;
  monitorDb?: string;
  retrain?: string;
  retrainEvery: string;
}

export async function monitorCommand(model: string, options: MonitorCommandOptions): Promise<void> {
  const window = tumbling(parseDuration(options.window, '--window'));
  const outOfOrder = parseDuration(options.outOfOrder, '--out-of-order');
  const within = parseDuration(options.labelWithin, '--label-within');
  const bound = new Set(options.source.map((s) => s.split('=')[0]));
  if (!bound.has('predictions')) throw new RtmlError('RTML_E_USAGE', 'rtml monitor needs --source predictions=URI (what score() wrote)');
  if (bound.has('outcomes') !== (options.label !== undefined)) throw new RtmlError('RTML_E_USAGE', 'online accuracy needs both --source outcomes=URI and --label <field>');
  const sinks = new Set(options.sink.map((s) => s.split('=')[0]));
  const accuracy = options.label !== undefined;
  const topology: Topology = defineTopology(`monitor-${model}`, ({ source, sink }) => {
    const predictions = source<Record<string, unknown>>('predictions', { time: options.time, outOfOrder });
    const drift = predictions.pipe(monitor(`registry:${model}`, { window }));
    const outputs: Observable<unknown>[] = [sinks.has('drift') ? drift.pipe(sink('drift')) : drift];
    if (accuracy) {
      const label = options.label!;
      const outcomes = source<Record<string, unknown>>('outcomes', { time: options.time, outOfOrder }).pipe(keyBy(options.joinBy));
      const quality = predictions.pipe(
        keyBy(options.joinBy),
        // Each prediction once: with its outcome when that came within the time allowed, else unlabelled.
        intervalJoin(outcomes, { between: [0, within], type: 'left' }),
        map(({ left, right }) => ({ ...left, [label]: right === null ? null : right[label] })),
        monitorAccuracy(model, { window, label, threshold: options.threshold }),
      );
      outputs.push(sinks.has('accuracy') ? quality.pipe(sink('accuracy')) : quality);
    }
    return outputs;
  });
  const registry = options.registry ?? DEFAULT_REGISTRY;
  await runCommand(`monitor-${model}`, { ...options, monitorDb: options.monitorDb ?? registry }, {
    topology,
    alongside:
      options.retrain === undefined
        ? undefined
        : (signal) =>
            retrainLoop(options.retrain!, parseDuration(options.retrainEvery, '--retrain-every'), { registry, artifacts: options.artifacts ?? DEFAULT_ARTIFACTS, offline: options.offline ?? DEFAULT_OFFLINE, monitorDb: options.monitorDb ?? registry }, signal),
  });
}

/**
 * Runs a pass of the retraining policy every `everyMs` (one at a time; the first at once), in this
 * process: its training runs on a worker thread (models/retrain), so the monitoring never waits for
 * it, and it shares this process's PGlite when the registry is one (a second process could not
 * open it). A failed pass leaves production as it was; it is reported and the next pass tries again.
 */
function retrainLoop(policyFile: string, everyMs: number, stores: RetrainStores, signal: AbortSignal): { stop(): Promise<void> } {
  const policy = loadPolicy(policyFile);
  const { deps, close } = openRetrainDeps(stores);
  let running: Promise<void> | undefined;
  const pass = (): void => {
    if (running !== undefined || signal.aborted) return;
    running = runRetrain(policy, { ...deps, onStep: (step) => logLine(`rtml: retrain: ${step.line}`) })
      .then(
        (outcome) => {
          if (outcome.failure !== null) logLine(`rtml: retrain: ${policy.model}: production is unchanged`, 'warn');
        },
        (err: unknown) => logLine(`rtml: retrain: ${policy.model}: ${errorMessage(err)}; production is unchanged`, 'error'),
      )
      .finally(() => (running = undefined));
  };
  pass();
  const timer = setInterval(pass, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await close();
    },
  };
}
