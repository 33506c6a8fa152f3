import type { QuotaLimits, QuotaMode } from '../types.js';

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

/** Quota state of one scope, read from the quota store (what the `subagent.quota.*` gauges report). */
export interface QuotaSnapshot {
  scope: string;
  executions: QuotaUsage;
  tokens: QuotaUsage;
  costUsd: QuotaUsage;
  wallTimeMs: QuotaUsage;
  concurrent: QuotaUsage;
}

/** `agentmeter.quota`: what the quota enforces and where each scope stands. Read-only. */
export interface QuotaView {
  /** `'enforce'` or `'observe'`. */
  readonly mode: QuotaMode;
  /** The limits of each scope, as configured. */
  readonly limits: Readonly<QuotaLimits>;
  /** The state of one scope (default `'global'`), as far as this process knows it (exact for the in-memory store). */
  snapshot(scope?: string): QuotaSnapshot;
  /** Runs admitted without accounting because a shared store was unavailable (`onUnavailable: 'allow'`). */
  unaccounted(): number;
}
