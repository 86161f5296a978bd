import { Observable, type OperatorFunction } from 'rxjs';
import { AggregateSet, type Field } from '../aggregates.ts';
import { parseDuration, type Duration } from '../duration.ts';
import { RtmlError } from '../errors.ts';
import { currentHost } from '../host.ts';
import { callerLocation } from '../location.ts';
import { accuracy, type AccuracyResult } from '../monitoring/accuracy.ts';
import { ACCURACY_METRICS, type AccuracyRecord } from '../monitoring/records.ts';
import type { WindowSpec } from '../windowSpecs.ts';
import { monitoredWindow, subscribeMonitored } from './monitorWindows.ts';

export interface MonitorAccuracyOptions<T> {
  /** Event-time windows the accuracy is taken in: tumbling or hopping. */
  window: WindowSpec;
  /** The outcome field (or a function): 0/1/true/false, null while the prediction is not labelled. */
  label: Field<T>;
  /** The score field (default 'score', as score() writes it). */
  score?: Field<T>;
  /** The decision threshold precision and recall are taken at (default 0.5, score()'s default). */
  threshold?: number;
  /** Calibration bins of the ECE (default 10). */
  bins?: number;
  /** The version field (default 'version', as score() writes it). */
  version?: string;
  lateness?: Duration;
  late?: string;
}

const KNOWN = new Set(['window', 'label', 'score', 'threshold', 'bins', 'version', 'lateness', 'late']);

/**
 * Online accuracy (docs/monitoring.md): per event-time window and model version — the arms of an
 * A/B split side by side — AUC, log loss, precision and recall at the decision threshold, and the
 * expected calibration error of the predictions whose outcome is known, as `AccuracyRecord`s
 * downstream, gauges `rtml_model_accuracy{model,version,metric}` and rows in the run's monitoring
 * store. Predictions meet their outcomes in event time before it, e.g. with a left
 * `intervalJoin` (topologies/labelled-predictions.ts): unlabelled ones are counted, not scored.
 *
 * ```ts
 * labelled.pipe(monitorAccuracy('fraud', { window: tumbling('1h'), label: 'is_fraud', threshold: 0.5 }), sink('accuracy'))
 * ```
 */
export function monitorAccuracy<T>(model: string, options: MonitorAccuracyOptions<T>): OperatorFunction<T, AccuracyRecord> {
  const at = callerLocation();
  const what = `monitorAccuracy('${model}') at ${at}`;
  if (typeof model !== 'string' || model === '') throw new RtmlError('RTML_E_TOPOLOGY', `${what} needs the model's name`);
  for (const name of Object.keys(options ?? {})) if (!KNOWN.has(name)) throw new RtmlError('RTML_E_TOPOLOGY', `${what}: unknown option '${name}' (options: ${[...KNOWN].join(', ')})`);
  const window = monitoredWindow(options.window, what);
  const lateness = parseDuration(options.lateness ?? 0, `${what} lateness`);
  const threshold = options.threshold ?? 0.5;
  const aggs = new AggregateSet({ quality: accuracy<T>({ score: options.score ?? 'score', label: options.label, threshold, bins: options.bins }) as never }, at);
  const versionField = options.version ?? 'version';
  return (source) =>
    new Observable<AccuracyRecord>((subscriber) => {
      const host = currentHost(what);
      const gauge = host.telemetry.gauge('model_accuracy', 'Online accuracy of a model version in the last window with labelled predictions (auc, log_loss, precision, recall, ece, labelled, positives, unlabelled)', ['model', 'version', 'metric']);
      return subscribeMonitored(host, source, subscriber, {
        what,
        kind: 'monitor-accuracy',
        window,
        lateness,
        late: options.late,
        versionField,
        aggs,
        signature: JSON.stringify({ model, window, lateness, threshold, bins: options.bins ?? 10 }),
        fire(version, start, end, accs) {
          const result = aggs.result(version, start, end, accs).quality as AccuracyResult;
          return ACCURACY_METRICS.map((metric): AccuracyRecord => {
            const value = result[metric];
            if (value !== null && (result.labelled > 0 || metric === 'unlabelled' || metric === 'labelled')) gauge.labels(model, version, metric).set(value);
            return { model, version, window_start: start, window_end: end, metric, value, n: result.labelled, threshold };
          });
        },
        write: (recorder, records) => recorder.write([], records),
      });
    });
}
