/** One prediction as a live viewer sees it (the dashboard's predictions feed). */
export interface PredictionSample {
  readonly model: string;
  readonly version: string;
  /** The event's key (a run) or the request's entity (rtml serve); '' when there is none. */
  readonly key: string;
  readonly score: number;
  readonly label: 0 | 1;
  /** Epoch ms: the event's time in a run, the answer's wall-clock time in rtml serve. */
  readonly time: number;
}

/**
 * Where score() offers its predictions to someone watching (RunOptions.predictions). `wants()` is
 * asked before each sample is built: it is false while nobody watches or the watcher has all the
 * samples it takes for now, so a run without viewers pays one call per event and builds nothing.
 * `publish` must never block or throw: a slow viewer loses samples, the run never waits for it.
 */
export interface PredictionTap {
  wants(): boolean;
  publish(sample: PredictionSample): void;
}
