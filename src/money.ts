/**
 * Money is kept in integer nano-dollars (1e-9 USD) wherever it is summed, in memory and in the
 * stores, so totals never drift and a cost of a fraction of a micro-dollar per call (a few cheap
 * tokens) still counts. A run carries what is below one nano-dollar from one record to the next.
 */
export const NANOS_PER_USD = 1_000_000_000;

/** The largest amount a ledger holds exactly: 2^53 nano-dollars, about 9 million USD. */
export const MAX_LEDGER_USD = Math.floor(Number.MAX_SAFE_INTEGER / NANOS_PER_USD);

export function usdToNanos(usd: number): number {
  return Math.round(usd * NANOS_PER_USD);
}

export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}
