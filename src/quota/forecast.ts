import type { LedgerAmounts } from './store.js';

/**
 * How far back a scope's burn rate looks. The rate is the growth of the scope's consumption
 * between the oldest kept reading and the newest, which are kept between half this and this far
 * apart once reads come at least this often (each `snapshot()` and each collection of the quota
 * gauges is a reading): a burst stops counting at most this long after it ended.
 */
export const BURN_RATE_HORIZON_MS = 5 * 60_000;

/** The shortest time between two readings that makes a rate: closer ones say more about the reads than the burn. */
export const MIN_RATE_SPAN_MS = 1_000;

/** The resources a forecast is made for, in ledger units. */
export type ForecastResource = 'executions' | 'tokens' | 'costNanos';

interface Reading {
  at: number;
  executions: number;
  tokens: number;
  costNanos: number;
}

const reading = (at: number, used: LedgerAmounts): Reading => ({ at, executions: used.executions, tokens: used.tokens, costNanos: used.costNanos });

/**
 * The recent consumption rate of one scope, from the readings of its lifetime `used` counts
 * (which only grow): three readings, no timer, O(1) per reading. The oldest is replaced by the
 * middle one when the middle one is half the horizon old, so that with readings at least every
 * half horizon the rate spans between half the horizon and the horizon (before that, the time
 * since the first reading).
 */
export class BurnRate {
  #oldest: Reading | undefined;
  #middle: Reading | undefined;
  #latest: Reading | undefined;

  /** Records the scope's lifetime consumption read at `now`. */
  record(now: number, used: LedgerAmounts): void {
    const latest = this.#latest;
    // First reading, the clock went back, or the counts shrank (the store forgot them): start over.
    if (latest === undefined || now < latest.at || used.executions < latest.executions || used.tokens < latest.tokens || used.costNanos < latest.costNanos) {
      this.#oldest = this.#middle = this.#latest = reading(now, used);
      return;
    }
    const next = reading(now, used);
    if (now - this.#middle!.at >= BURN_RATE_HORIZON_MS / 2) {
      this.#oldest = this.#middle;
      this.#middle = next;
    }
    this.#latest = next;
  }

  /** Consumed per second over the recent past, in ledger units; undefined until two readings `MIN_RATE_SPAN_MS` apart. */
  perSecond(resource: ForecastResource): number | undefined {
    const oldest = this.#oldest;
    const latest = this.#latest;
    if (oldest === undefined || latest === undefined || latest.at - oldest.at < MIN_RATE_SPAN_MS) return undefined;
    return ((latest[resource] - oldest[resource]) * 1000) / (latest.at - oldest.at);
  }
}

/**
 * When a limit that never resets runs out at `ratePerSecond`: `now` plus what is left (`limit`
 * minus what is used or reserved) over the rate. Undefined without a limit or a positive rate.
 */
export function lifetimeExhaustion(now: number, limit: number | undefined, held: number, ratePerSecond: number | undefined): number | undefined {
  if (limit === undefined || ratePerSecond === undefined || !(ratePerSecond > 0)) return undefined;
  return now + (Math.max(0, limit - held) * 1000) / ratePerSecond;
}

/** A calendar window's limit: as one that never resets, but undefined when the period ends (`resetsAt`) first. */
export function calendarExhaustion(
  now: number,
  limit: number | undefined,
  held: number,
  ratePerSecond: number | undefined,
  resetsAt: number,
): number | undefined {
  const at = lifetimeExhaustion(now, limit, held, ratePerSecond);
  return at !== undefined && at < resetsAt ? at : undefined;
}

/**
 * A rolling window's limit. What the window holds now (`used`) is taken as spread evenly over its
 * length, so it leaves at `used / length` while the scope consumes at the rate: the budget runs
 * out when the difference has eaten what is left, if that happens within one window length.
 * Past that the window holds only consumption at the rate, which then fits: undefined. A steady
 * burn that fills less than the window's limit in one window length never runs out.
 */
export function rollingExhaustion(
  now: number,
  limit: number | undefined,
  held: number,
  used: number,
  ratePerSecond: number | undefined,
  lengthMs: number,
): number | undefined {
  if (limit === undefined || ratePerSecond === undefined) return undefined;
  const netPerSecond = ratePerSecond - (used * 1000) / lengthMs;
  if (!(netPerSecond > 0)) return undefined;
  const inMs = (Math.max(0, limit - held) * 1000) / netPerSecond;
  return inMs <= lengthMs ? now + inMs : undefined;
}
