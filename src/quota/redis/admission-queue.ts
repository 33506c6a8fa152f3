import { QuotaStoreOverloadedError } from './overloaded-error.js';

/**
 * Smooths a burst of reservations: at most `maxInFlight` are sent to Redis at once, the rest wait
 * here in arrival order. Each call's timeout starts when it is sent, so a burst is not refused
 * for the time it spent queued behind itself. A run is refused instead (`QuotaStoreOverloadedError`)
 * when `maxDepth` runs already wait, or when it has waited longer than `maxAgeMs`.
 */
export class AdmissionQueue {
  readonly #store: string;
  readonly #maxInFlight: number;
  readonly #maxDepth: number;
  readonly #maxAgeMs: number;
  #inFlight = 0;
  /** Waiting entries from `#head` on; the consumed prefix is dropped once it is large. */
  #waiting: Array<{ readonly since: number; readonly start: () => void; readonly refuse: (error: Error) => void }> = [];
  #head = 0;

  constructor(store: string, options: { maxInFlight: number; maxDepth: number; maxAgeMs: number }) {
    this.#store = store;
    this.#maxInFlight = options.maxInFlight;
    this.#maxDepth = options.maxDepth;
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** Runs `task` once a place in flight is free; rejects with `QuotaStoreOverloadedError` without running it. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#inFlight < this.#maxInFlight && this.#depth() === 0) this.#inFlight += 1;
    else await this.#enter();
    try {
      return await task();
    } finally {
      this.#inFlight -= 1;
      this.#startNext();
    }
  }

  #depth(): number {
    return this.#waiting.length - this.#head;
  }

  #enter(): Promise<void> {
    if (this.#depth() >= this.#maxDepth) {
      return Promise.reject(
        new QuotaStoreOverloadedError(this.#store, 'queue-full', `${this.#depth()} runs already wait for admission (maxQueueDepth ${this.#maxDepth})`),
      );
    }
    return new Promise<void>((start, refuse) => {
      this.#waiting.push({ since: performance.now(), start, refuse });
    });
  }

  /** Sends the next waiting runs while places are free, refusing those that waited too long. */
  #startNext(): void {
    const now = performance.now();
    while (this.#inFlight < this.#maxInFlight && this.#depth() > 0) {
      const next = this.#waiting[this.#head]!;
      this.#head += 1;
      const waitedMs = now - next.since;
      if (waitedMs > this.#maxAgeMs) {
        next.refuse(
          new QuotaStoreOverloadedError(this.#store, 'queue-timeout', `waited ${Math.round(waitedMs)} ms for admission (maxQueueAgeMs ${this.#maxAgeMs})`),
        );
        continue;
      }
      this.#inFlight += 1;
      next.start();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
  }
}
