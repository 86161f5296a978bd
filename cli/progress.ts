import cliProgress from 'cli-progress';
import type { RunProgress } from '../engine/runtime.ts';

/**
 * A progress bar on stderr for long runs, shown only when stderr is a terminal: events, events/s
 * and, for bounded input, percentage and ETA.
 */
export function progressBar(enabled: boolean): { update(p: RunProgress): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  let bar: cliProgress.SingleBar | undefined;
  return {
    update({ stats, done, total }) {
      const payload = { events: stats.in.toLocaleString('en-US'), rate: Math.round(stats.eventsPerSecond).toLocaleString('en-US') };
      if (!bar) {
        const format =
          total === undefined
            ? '{events} events | {rate} events/s'
            : '{bar} {percentage}% | {events} events | {rate} events/s | ETA {eta_formatted}';
        bar = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
        bar.start(total ?? 1, 0, payload);
      }
      bar.update(total === undefined ? 0 : done, payload);
    },
    stop() {
      bar?.stop();
    },
  };
}
