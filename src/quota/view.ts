import type { QuotaLimits, QuotaMode } from '../types.js';
import type { QuotaWindow } from './window-options.js';

/** One resource of a scope, in user units (USD for `costUsd`). */
export interface QuotaUsage {
  /** The configured limit; `undefined` when the resource is not limited. */
  limit: number | undefined;
  /** Consumed by finished runs and by usage recorded so far. */
  used: number;
  /** Held by runs in flight (their estimates not yet consumed). */
  reserved: number;
  /** `limit - used - reserved`, never below 0; `undefined` without a limit. */
  remaining: number | undefined;
  /**
   * Consumed per second over the recent past (the last 2.5 to 5 minutes of reads: see
   * docs/quotas.md, "Forecast"), the scope's consumption whichever window it counts in.
   * Absent until the scope has been read twice at least a second apart (each `snapshot()` and
   * gauge collection reads it), and for `wallTimeMs` and `concurrent`, which are not consumed.
   */
  burnRatePerSecond?: number | undefined;
  /**
   * Epoch ms when `remaining` runs out at `burnRatePerSecond` (now, if nothing remains).
   * Absent without a limit, without a positive burn rate, or when the budget does not run
   * out in the window: a calendar window that resets first (`resetsAt`), or a rolling window
   * whose old consumption leaves at least as fast as new consumption comes.
   */
  exhaustsAt?: number | undefined;
}

/** One window of a scope: what counts in it now. */
export interface QuotaWindowUsage {
  /** The window's label, as the `quota.window` attribute has it: `day`, `month@Europe/Paris`, `rolling:1d`. */
  window: string;
  /** Epoch ms when budget is next freed: the end of the calendar period, or of a rolling window's current bucket. */
  resetsAt: number;
  executions: QuotaUsage;
  tokens: QuotaUsage;
  costUsd: QuotaUsage;
}

/** Quota state of one scope, read from the quota store (what the `subagent.quota.*` gauges report). */
export interface QuotaSnapshot {
  scope: string;
  /** The level the scope belongs to (`'default'` for a quota without `levels`). */
  level: string;
  executions: QuotaUsage;
  tokens: QuotaUsage;
  costUsd: QuotaUsage;
  wallTimeMs: QuotaUsage;
  concurrent: QuotaUsage;
  /** Per configured window of the level, in order. Limits that never reset are the fields above. */
  windows: QuotaWindowUsage[];
}

/** One level of the quota, as configured. */
export interface QuotaLevelView {
  readonly name: string;
  readonly limits: Readonly<QuotaLimits>;
  readonly windows: readonly QuotaWindow[];
  readonly idleTtlMs: number | undefined;
}

/** `agentmeter.quota`: what the quota enforces and where each scope stands. Read-only. */
export interface QuotaView {
  /** `'enforce'` or `'observe'`. */
  readonly mode: QuotaMode;
  /** The limits every run starts from: per limit, the lowest any level sets (with one level, its limits as configured). */
  readonly limits: Readonly<QuotaLimits>;
  /** The levels, outermost first: one named `'default'` for a quota without `levels`. */
  readonly levels: readonly QuotaLevelView[];
  /**
   * The state of one scope (default `'global'`) of one level (default: the outermost), as far as
   * this process knows it (exact for the in-memory store). A scope not in use reads as empty.
   */
  snapshot(scope?: string, level?: string): QuotaSnapshot;
  /** Runs admitted without accounting because a shared store was unavailable (`onUnavailable: 'allow'`). */
  unaccounted(): number;
}
