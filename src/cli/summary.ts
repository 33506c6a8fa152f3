import type { QuotaUsage } from '../index.js';
import { OUTCOMES, type Outcome } from '../semconv.js';

/** The demo's numbers at one moment, as exported on `/metrics` plus the quota snapshot. */
export interface Summary {
  elapsedS: number;
  executions: Record<Outcome, number>;
  active: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  quota: Record<'tokens' | 'costUsd' | 'concurrent', QuotaUsage> | undefined;
}

/** Reads the executions, active runs, tokens and cost from a Prometheus exposition. */
export function parseExposition(text: string): Pick<Summary, 'executions' | 'active' | 'inputTokens' | 'outputTokens' | 'costUsd'> {
  const executions = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>;
  let active = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match === null) continue;
    const [, name, labels = '', raw] = match;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const label = (key: string) => new RegExp(`(?:^|,)${key}="([^"]*)"`).exec(labels)?.[1];
    if (name === 'subagent_executions_total') {
      const outcome = label('subagent_outcome') as Outcome | undefined;
      if (outcome !== undefined && outcome in executions) executions[outcome] += value;
    } else if (name === 'subagent_active') {
      active += value;
    } else if (name === 'subagent_tokens_sum') {
      if (label('gen_ai_token_type') === 'input') inputTokens += value;
      else if (label('gen_ai_token_type') === 'output') outputTokens += value;
    } else if (name !== undefined && name.startsWith('subagent_cost') && name.endsWith('_total')) {
      costUsd += value;
    }
  }
  return { executions, active, inputTokens, outputTokens, costUsd };
}

/** One line, for logs and pipes. */
export function formatLine(summary: Summary): string {
  const executions = OUTCOMES.map((outcome) => `${outcome}=${summary.executions[outcome]}`).join(' ');
  const quota = summary.quota ? ` quota tokens=${percent(summary.quota.tokens)} cost=${percent(summary.quota.costUsd)}` : '';
  return (
    `t=${Math.round(summary.elapsedS)}s executions ${executions} active=${summary.active} ` +
    `tokens=${summary.inputTokens + summary.outputTokens} cost=$${summary.costUsd.toFixed(4)}${quota}`
  );
}

/** A block for a terminal, redrawn in place. */
export function formatPanel(summary: Summary, title: string): string[] {
  const total = OUTCOMES.reduce((sum, outcome) => sum + summary.executions[outcome], 0);
  const lines = [
    `${title}  ${Math.round(summary.elapsedS)}s`,
    '',
    `executions  ${total}`,
    ...OUTCOMES.map((outcome) => `  ${outcome.padEnd(11)}${String(summary.executions[outcome]).padStart(7)}`),
    `active      ${String(summary.active).padStart(9)}`,
    `tokens      ${String(summary.inputTokens + summary.outputTokens).padStart(9)}  (in ${summary.inputTokens}, out ${summary.outputTokens})`,
    `cost        ${('$' + summary.costUsd.toFixed(4)).padStart(9)}`,
    `denials     ${String(summary.executions.denied).padStart(9)}`,
  ];
  if (summary.quota) {
    lines.push('', 'quota');
    lines.push(`  tokens     ${bar(summary.quota.tokens)}`);
    lines.push(`  cost USD   ${bar(summary.quota.costUsd, (value) => value.toFixed(2))}`);
    lines.push(`  concurrent ${bar(summary.quota.concurrent)}`);
  }
  return lines;
}

function bar(usage: QuotaUsage, format: (value: number) => string = String, width = 30): string {
  if (usage.limit === undefined || usage.limit <= 0) return `${format(usage.used)} (no limit)`;
  const fraction = Math.min(1, (usage.used + usage.reserved) / usage.limit);
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${format(usage.used)}/${format(usage.limit)}`;
}

function percent(usage: QuotaUsage): string {
  if (usage.limit === undefined || usage.limit <= 0) return '-';
  return `${Math.round(Math.min(1, (usage.used + usage.reserved) / usage.limit) * 100)}%`;
}
