import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_HELP, parseDemoArgs } from '../../src/cli/args.js';
import { renderLine, renderPanel } from '../../src/cli/render.js';
import type { Summary } from '../../src/cli/summary.js';
import type { QuotaUsage } from '../../src/index.js';
import { ROOT } from '../helpers/build.js';

/** docs/demo.md: its samples are what the demo prints, its flag table is the parser's. */
const page = readFileSync(join(ROOT, 'docs', 'demo.md'), 'utf8');
const textBlocks = [...page.matchAll(/^```text\n(.*?)\n```$/gms)].map((match) => match[1]!);

const usage = (used: number, limit: number): QuotaUsage => ({ used, limit, reserved: 0, remaining: Math.max(0, limit - used) });
/** The state the samples show: about a minute in, the token budget spent (a real run's numbers). */
const sample: Summary = {
  elapsedS: 58,
  totals: {
    executions: { ok: 299, incomplete: 33, error: 3, timeout: 0, aborted: 0, denied: 0 },
    active: 0,
    inputTokens: 2_147_188,
    outputTokens: 243_603,
    costUsd: 10.0956,
  },
  denials: { tokens: 23, turns: 10 },
  quota: { tokens: usage(2_390_791, 2_400_000), costUsd: usage(10.0956, 12), concurrent: usage(0, 20) },
};

describe('docs/demo.md', () => {
  it('shows the panel the demo draws on an 80-column terminal, and its line without one', () => {
    const heading = {
      adapter: 'ai-sdk',
      rate: 1,
      speed: 1,
      metricsUrl: 'http://127.0.0.1:9464/metrics',
      otlp: undefined,
      status: 'Ctrl-C or q: stop with a final summary',
    };
    expect(textBlocks[0]).toBe(renderPanel(sample, heading, 79).join('\n'));
    expect(textBlocks[1]).toBe(renderLine(sample));
  });

  it('lists every flag of the demo with the default the parser uses', () => {
    const flags = [...DEMO_HELP.matchAll(/^ {2}(--\w+ <\w+>)/gm)].map((match) => match[1]!);
    const rows = new Map([...page.matchAll(/^\| `(--\w+ <\w+>)` \| ([^|]+) \|/gm)].map((match) => [match[1]!, match[2]!.trim()]));
    expect([...rows.keys()]).toEqual(flags);
    const defaults = parseDemoArgs([], false) as unknown as Record<string, string | number | undefined>;
    for (const [flag, documented] of rows) {
      const value = defaults[flag.slice(2, flag.indexOf(' '))];
      expect(documented, flag).toBe(value === undefined ? documented : `\`${String(value)}\``);
      if (value === undefined) expect(['off', 'until stopped'], flag).toContain(documented);
    }
  });
});
