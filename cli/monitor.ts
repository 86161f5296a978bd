import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { map, type Observable } from 'rxjs';
import { parseDuration } from '../engine/duration.ts';
import { RtmlError } from '../engine/errors.ts';
import { defineTopology, intervalJoin, keyBy, monitor, monitorAccuracy, tumbling, type Topology } from '../engine/index.ts';
import { DEFAULT_REGISTRY } from '../models/registry/index.ts';
import { runCommand, type RunCommandOptions } from './run.ts';

/**
 * `rtml monitor <model> --source predictions=URI [--source outcomes=URI --label is_fraud]`: watches a
 * model in production (docs/monitoring.md). Its predictions (score()'s output: features, score,
 * version) are compared with each version's reference profile per window — drift records to the
 * `drift` sink, gauges, and rows in the monitoring database — and, given outcomes, joined with them
 * in event time for online accuracy per version (`accuracy` sink, gauges, rows). With
 * `--retrain policy.yaml` it also runs the retraining policy (`rtml retrain`) as a child process
 * every `--retrain-every`, so training never stalls the monitoring.
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

const RTML = fileURLToPath(new URL('../bin/rtml.mjs', import.meta.url));

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
    alongside: options.retrain === undefined ? undefined : (signal) => retrainLoop(options.retrain!, parseDuration(options.retrainEvery, '--retrain-every'), { ...options, registry }, signal),
  });
}

/**
 * Runs `rtml retrain --policy` every `everyMs` in a child process (one at a time), printing what it
 * decided; stopped (and a retrain in progress killed) when the run ends.
 */
function retrainLoop(policy: string, everyMs: number, options: { registry: string; artifacts?: string; offline?: string }, signal: AbortSignal): { stop(): Promise<void> } {
  let child: ChildProcess | undefined;
  let finished: Promise<void> = Promise.resolve();
  const once = (): void => {
    if (child !== undefined || signal.aborted) return;
    const args = [RTML, 'retrain', '--policy', policy, '--registry', options.registry, ...(options.artifacts ? ['--artifacts', options.artifacts] : []), ...(options.offline ? ['--offline', options.offline] : [])];
    const started = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child = started;
    finished = new Promise((resolve) =>
      started.on('exit', (code) => {
        if (code !== 0 && !signal.aborted) process.stderr.write(`rtml: monitor: retrain exited with ${code}; production is unchanged\n`);
        child = undefined;
        resolve();
      }),
    );
  };
  once();
  const timer = setInterval(once, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      child?.kill('SIGTERM');
      await finished;
    },
  };
}
