import { Counter, type Registry } from 'prom-client';
import type { PredictionSample, PredictionTap } from '../../engine/predictionTap.ts';

/** A viewer's connection: sends one message, or returns false when the viewer is too far behind to take it. */
export type FeedClient = (text: string) => boolean;

/** Samples a second, at most, whoever produces them: a table a person reads, not a stream to replay. */
export const SAMPLES_PER_SECOND = 20;
/** A viewer with this much unsent already gets no more samples until it has read them. */
export const FEED_CLIENT_BUFFER_BYTES = 256 << 10;
/** Why a viewer's message is refused: the feed only sends. */
export const FEED_TAKES_NO_MESSAGES = 'this WebSocket only sends predictions: it takes no messages';

/**
 * The dashboard's predictions feed (`/dashboard/predictions`), the same for `rtml serve` and
 * `rtml run --metrics-port`: what scores (serve's batcher, a run's score()) offers it predictions
 * through the PredictionTap interface while a viewer is connected, and it takes about
 * SAMPLES_PER_SECOND of them, at random across the stream (each with the probability that rate
 * gives at last second's offered rate; not the first ones of each batch, which would always be the
 * same keys), never more than a token bucket allows. Each sample goes to every viewer as one JSON
 * text message; a viewer whose connection is backed up misses it (counted in
 * rtml_dashboard_samples_dropped_total): scoring never waits for a browser.
 */
export class PredictionFeed implements PredictionTap {
  private readonly clients = new Set<FeedClient>();
  private readonly dropped: Counter;
  private tokens = SAMPLES_PER_SECOND;
  private refilled: number;
  /** Predictions offered since `counting` began, and the share of them taken (from the last second's count). */
  private offered = 0;
  private counting: number;
  private share = 1;

  constructor(
    registry: Registry,
    /** Milliseconds, for the rate, and a uniform number in [0, 1), for the sampling (both injectable for tests). */
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
  ) {
    this.refilled = this.counting = now();
    this.dropped = new Counter({ name: 'rtml_dashboard_samples_dropped_total', help: 'Prediction samples not sent to a dashboard viewer whose connection was backed up', registers: [registry] });
  }

  /** Adds a viewer; returns its removal. */
  subscribe(client: FeedClient): () => void {
    this.clients.add(client);
    return () => this.clients.delete(client);
  }

  wants(): boolean {
    if (this.clients.size === 0) return false;
    const now = this.now();
    this.offered++;
    if (now - this.counting >= 1000) {
      this.share = Math.min(1, (SAMPLES_PER_SECOND * (now - this.counting)) / 1000 / this.offered);
      this.offered = 0;
      this.counting = now;
    }
    if (this.random() >= this.share) return false;
    this.tokens = Math.min(SAMPLES_PER_SECOND, this.tokens + ((now - this.refilled) / 1000) * SAMPLES_PER_SECOND);
    this.refilled = now;
    return this.tokens >= 1;
  }

  publish(sample: PredictionSample): void {
    this.tokens--;
    const text = JSON.stringify(sample);
    for (const client of this.clients) if (!client(text)) this.dropped.inc();
  }
}
