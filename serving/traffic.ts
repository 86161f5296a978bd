/**
 * The server's requests in flight, and whether it is shutting down: while draining, each answer
 * closes its connection (keep-alive clients reconnect elsewhere) and close() waits for the count
 * to reach zero before the last connections are dropped.
 */
export class Traffic {
  inFlight = 0;
  draining = false;
  private idle: (() => void) | undefined;

  started(): void {
    this.inFlight++;
  }

  finished(): void {
    if (--this.inFlight === 0) this.idle?.();
  }

  /** Starts draining; resolves true once no request is in flight, false when `timeoutMs` passes first. */
  drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idle = undefined;
        resolve(false);
      }, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        this.idle = undefined;
        resolve(true);
      };
    });
  }
}
