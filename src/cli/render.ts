import type { QuotaUsage } from '../index.js';
import { OUTCOMES, type Outcome } from '../semconv.js';
import type { Summary } from './summary.js';

/** What the panel says above the numbers. */
export interface PanelHeading {
  adapter: string;
  rate: number;
  speed: number;
  metricsUrl: string;
  otlp: string | undefined;
  /** The heading's last line: how to stop, or that this is the final summary. */
  status: string;
  /** The latest telemetry warning, shown while the panel is live. */
  warning?: string | undefined;
}

const LABEL = 14;
const NUMBER = 9;
/** Where the details after a number start. */
const DETAIL = LABEL + NUMBER + 3;
const MIN_BAR = 5;
const MAX_BAR = 30;

const OUTCOME_NOTES: Partial<Record<Outcome, string>> = {
  incomplete: 'stopped by a quota while running',
  denied: 'refused by a quota before starting',
};

/**
 * The live panel (and the final summary) for a terminal `width` columns wide: no line is longer
 * than `width`; details that do not fit wrap onto lines of their own, and what still does not
 * fit is cut with `…`.
 */
export function renderPanel(summary: Summary, heading: PanelHeading, width: number): string[] {
  const { totals } = summary;
  const lines: string[] = [];
  lines.push(spread(['agentmetry demo', heading.adapter, ...pace(heading.rate, heading.speed)].join(' · '), `${Math.round(summary.elapsedS)}s`, width));
  const endpoints = [`metrics ${heading.metricsUrl}`];
  if (heading.otlp !== undefined) endpoints.push(`OTLP ${heading.otlp}`);
  lines.push(...wrap(endpoints, width), ...wrap([heading.status], width));
  if (heading.warning !== undefined) lines.push(...wrap([`warning: ${heading.warning}`], width));
  lines.push('');

  const total = OUTCOMES.reduce((sum, outcome) => sum + totals.executions[outcome], 0);
  lines.push(row('executions', total, [], width));
  for (const outcome of OUTCOMES) {
    const note = OUTCOME_NOTES[outcome];
    lines.push(row(`  ${outcome}`, totals.executions[outcome], note === undefined ? [] : [note], width));
  }
  lines.push(row('active', totals.active, [], width));
  lines.push(...rows('tokens', totals.inputTokens + totals.outputTokens, [`in ${totals.inputTokens}`, `out ${totals.outputTokens}`], width));
  lines.push(row('cost USD', totals.costUsd.toFixed(4), [], width));
  const denials = summary.denials;
  if (denials === undefined) {
    lines.push(row('quota denials', '?', ['could not read /metrics'], width));
  } else {
    const byResource = Object.entries(denials).sort(([, a], [, b]) => b - a);
    const count = byResource.reduce((sum, [, value]) => sum + value, 0);
    lines.push(
      ...rows(
        'quota denials',
        count,
        byResource.map(([resource, value]) => `${resource} ${value}`),
        width,
      ),
    );
  }

  if (summary.quota !== undefined) {
    const bars = [
      quotaBar('tokens', summary.quota.tokens, String),
      quotaBar('cost USD', summary.quota.costUsd, (value) => value.toFixed(2)),
      quotaBar('concurrent', summary.quota.concurrent, String),
    ];
    // One length for every bar: what the longest line leaves, within bounds.
    const cells = Math.max(MIN_BAR, Math.min(MAX_BAR, width - LABEL - 2 - Math.max(...bars.map((bar) => bar.suffix.length))));
    lines.push('', fit('quota (scope global)', width), ...bars.map((bar) => fit(bar.line(cells), width)));
  }
  return lines;
}

/** One line, for logs and pipes. */
export function renderLine(summary: Summary): string {
  const { totals, denials, quota } = summary;
  const executions = OUTCOMES.map((outcome) => `${outcome}=${totals.executions[outcome]}`).join(' ');
  let denialText = 'denials=?';
  if (denials !== undefined) {
    const byResource = Object.entries(denials).sort(([, a], [, b]) => b - a);
    const count = byResource.reduce((sum, [, value]) => sum + value, 0);
    denialText = `denials=${count}${byResource.length > 0 ? ` (${byResource.map(([resource, value]) => `${resource}=${value}`).join(' ')})` : ''}`;
  }
  const quotaText = quota ? ` quota tokens=${percent(quota.tokens)} cost=${percent(quota.costUsd)}` : '';
  return (
    `t=${Math.round(summary.elapsedS)}s executions ${executions} active=${totals.active} ` +
    `tokens=${totals.inputTokens + totals.outputTokens} cost=$${totals.costUsd.toFixed(4)} ${denialText}${quotaText}`
  );
}

/** `1 planner/s`, and `10x speed` when fast-forwarded. */
export function pace(rate: number, speed: number): string[] {
  const parts = [`${formatNumber(rate)} planner${rate === 1 ? '' : 's'}/s`];
  if (speed !== 1) parts.push(`${formatNumber(speed)}x speed`);
  return parts;
}

/** `text` cut to `width` columns, ending in `…` when cut. */
export function fit(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 0 ? '' : `${text.slice(0, width - 1)}…`;
}

/** A label, a number and the details after it, on one line (details cut to fit). */
function row(label: string, value: number | string, details: string[], width: number): string {
  return rows(label, value, details, width)[0]!;
}

/** A label, a number and the details after it, the details wrapped onto further lines when they do not fit. */
function rows(label: string, value: number | string, details: string[], width: number): string[] {
  const head = `${label.padEnd(LABEL)}${String(value).padStart(NUMBER)}`;
  if (details.length === 0) return [fit(head, width)];
  // Too narrow for a column of details: they follow the number, cut at the edge.
  if (width - DETAIL < 16) return [fit(`${head}   ${details.join(' · ')}`, width)];
  const [first = '', ...rest] = wrap(details, width - DETAIL);
  return [fit(`${head.padEnd(DETAIL)}${first}`, width), ...rest.map((line) => ' '.repeat(DETAIL) + line)];
}

/** Items joined by ` · `, wrapped between items to lines of `width`, an item longer than a line cut. */
function wrap(items: string[], width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const item of items) {
    const next = current === '' ? item : `${current} · ${item}`;
    if (next.length <= width || current === '') {
      current = next;
    } else {
      lines.push(current);
      current = item;
    }
  }
  lines.push(current);
  return lines.map((line) => fit(line, width));
}

/** `left` and `right` at the two ends of a line, or one after the other when they do not fit. */
function spread(left: string, right: string, width: number): string {
  const gap = width - left.length - right.length;
  return gap >= 2 ? `${left}${' '.repeat(gap)}${right}` : fit(`${left}  ${right}`, width);
}

/**
 * A quota bar: `#` consumed, `+` reserved, `.` free. Past the limit the bar is all `!`, the
 * percentage goes above 100 and the line says so.
 */
function quotaBar(label: string, usage: QuotaUsage, format: (value: number) => string): { suffix: string; line(cells: number): string } {
  const prefix = `  ${label.padEnd(LABEL - 2)}`;
  const limit = usage.limit;
  if (limit === undefined || limit <= 0) return { suffix: '', line: () => `${prefix}${format(usage.used)} (no limit)` };
  const over = usage.used > limit;
  const suffix = ` ${percent(usage).padStart(4)}  ${format(usage.used)}/${format(limit)}${over ? '  over the limit' : ''}`;
  const line = (cells: number) => {
    if (over) return `${prefix}[${'!'.repeat(cells)}]${suffix}`;
    const used = Math.min(cells, Math.round((usage.used / limit) * cells));
    const reserved = Math.min(cells - used, Math.round((usage.reserved / limit) * cells));
    return `${prefix}[${'#'.repeat(used)}${'+'.repeat(reserved)}${'.'.repeat(cells - used - reserved)}]${suffix}`;
  };
  return { suffix, line };
}

/** Consumed as a share of the limit, rounded down and not capped at 100 %; past the limit it reads at least 101. */
function percent(usage: QuotaUsage): string {
  if (usage.limit === undefined || usage.limit <= 0) return '-';
  const share = Math.floor((usage.used / usage.limit) * 100);
  return `${usage.used > usage.limit ? Math.max(101, share) : share}%`;
}

function formatNumber(value: number): string {
  return String(Math.round(value * 100) / 100);
}
