import type { AgentMeter, QuotaUsage, Totals } from '../index.js';
import { ATTR_QUOTA_RESOURCE, METRIC_QUOTA_DENIALS } from '../semconv.js';

/**
 * The demo's numbers at one moment, each read from where its metric is exported from, so the
 * screen and `/metrics` agree: `agentmeter.totals()` (the `subagent.executions`, `.active` and
 * `.cost` counters; tokens as charged, live), `agentmeter.quota.snapshot()` (the
 * `subagent.quota.*` gauges) and `/metrics` itself for `subagent.quota.denials`, which no
 * other API exposes.
 */
export interface Summary {
  elapsedS: number;
  totals: Totals;
  /** `subagent_quota_denials_total` by `quota.resource` (admission refusals and runs stopped); `undefined` when `/metrics` could not be read. */
  denials: Record<string, number> | undefined;
  quota: Record<'tokens' | 'costUsd' | 'concurrent', QuotaUsage> | undefined;
}

/** Reads the summary; `exposition` is a scrape of the demo's own `/metrics` (`undefined` when it failed). */
export function readSummary(agentmeter: AgentMeter, elapsedS: number, exposition: string | undefined): Summary {
  const snapshot = agentmeter.quota?.snapshot();
  return {
    elapsedS,
    totals: agentmeter.totals(),
    denials: exposition === undefined ? undefined : parseDenials(exposition),
    quota: snapshot && { tokens: snapshot.tokens, costUsd: snapshot.costUsd, concurrent: snapshot.concurrent },
  };
}

/** The Prometheus name of `subagent.quota.denials` and of its resource label. */
const DENIALS_SERIES = `${prometheusName(METRIC_QUOTA_DENIALS)}_total`;
const RESOURCE_LABEL = prometheusName(ATTR_QUOTA_RESOURCE);

/** Sums `subagent_quota_denials_total` by `quota_resource` (over agents and modes) in a Prometheus exposition. */
export function parseDenials(exposition: string): Record<string, number> {
  const denials: Record<string, number> = {};
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)\{(.*)\}\s+(\S+)/.exec(line);
    if (match?.[1] !== DENIALS_SERIES) continue;
    const resource = new RegExp(`(?:^|,)${RESOURCE_LABEL}="([^"]*)"`).exec(match[2]!)?.[1];
    const value = Number(match[3]);
    if (resource !== undefined && Number.isFinite(value)) denials[resource] = (denials[resource] ?? 0) + value;
  }
  return denials;
}

function prometheusName(name: string): string {
  return name.replace(/[^\w]/g, '_');
}
