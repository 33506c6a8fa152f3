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
