import type { CalendarPeriod } from './windows.js';
import type { QuotaLimits, QuotaScopeBy } from '../types.js';

/** The limits a window can bound: what accumulates. Concurrency, wall time and the per-run limits have no window. */
export interface WindowedLimits {
  /** Runs admitted in the window. Integer. */
  maxExecutions?: number;
  /** Input plus output tokens charged in the window. Integer. */
  maxTokens?: number;
  /** Cost in USD charged in the window. */
  maxCostUsd?: number;
}

/** Limits that reset at the start of every calendar period. */
export interface CalendarQuotaWindow extends WindowedLimits {
  /** `'minute'`, `'hour'`, `'day'`, `'week'` (from Monday 00:00) or `'month'` (from the 1st, 00:00). */
  per: CalendarPeriod;
  /** The IANA time zone periods are aligned in, e.g. `'Europe/Paris'`. Default `'UTC'`. */
  timeZone?: string;
}

/** Limits over the last `rollingMs`, freed one sub-bucket at a time. */
export interface RollingQuotaWindow extends WindowedLimits {
  /** The window's length in ms, e.g. `24 * 3_600_000` for the last 24 hours. A whole number of ms, at least 1000. */
  rollingMs: number;
  /**
   * Sub-buckets of the window: usage leaves the window one bucket at a time, so the precision is
   * `rollingMs / buckets` (72 minutes for 24 hours in 20 buckets). `rollingMs` must divide by it. Default 20.
   */
  buckets?: number;
}

/** A limit that resets: per calendar period, or over a rolling window. */
export type QuotaWindow = CalendarQuotaWindow | RollingQuotaWindow;

/**
 * One level of a layered quota: every run is checked against one scope of every level at once
 * (for example the whole app, its tenant and its conversation), each with its own limits.
 */
export interface QuotaLevel {
  /** The level's name, in denials and as the `quota.level` attribute: letters, digits, `_`, `-` or `.`. */
  name: string;
  /** How runs are grouped at this level (see `QuotaOptions.scopeBy`). Default `'global'`. */
  scopeBy?: QuotaScopeBy;
  /** Limits of each scope of this level that never reset. Default: none. */
  limits?: QuotaLimits;
  /** Limits of each scope of this level per window. Default: none. */
  windows?: QuotaWindow[];
  /** See `QuotaOptions.idleTtlMs`. Default: undefined. */
  idleTtlMs?: number;
}
