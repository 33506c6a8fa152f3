import { describe, expect, it } from 'vitest';
import { fit, renderLine, renderPanel, type PanelHeading } from '../../src/cli/render.js';
import { LiveScreen, frame, type Terminal } from '../../src/cli/screen.js';
import { parseDenials, type Summary } from '../../src/cli/summary.js';
import type { QuotaUsage } from '../../src/index.js';
import { VirtualTerminal } from './virtual-terminal.js';

const usage = (used: number, limit: number, reserved = 0): QuotaUsage => ({ used, limit, reserved, remaining: Math.max(0, limit - used - reserved) });

function summary(overrides: Partial<Summary> = {}): Summary {
  return {
    elapsedS: 61.4,
    totals: {
      executions: { ok: 1380, incomplete: 15, error: 11, timeout: 0, aborted: 3, denied: 32 },
      active: 7,
      inputTokens: 2_100_000,
      outputTokens: 333_253,
      costUsd: 11.3418,
    },
    denials: { tokens: 30, turns: 15, concurrent: 2 },
    quota: { tokens: usage(2_433_253, 2_400_000), costUsd: usage(11.34, 12), concurrent: usage(7, 20) },
    ...overrides,
  };
}

const heading: PanelHeading = {
  adapter: 'openai-agents',
  rate: 1,
  speed: 1,
  metricsUrl: 'http://127.0.0.1:9464/metrics',
  otlp: 'http://otel-collector.observability.svc.cluster.local:4318',
  status: 'Ctrl-C or q: stop with a final summary',
  warning: 'OTLPExporterError: Not Found while exporting metrics to http://otel-collector.observability.svc.cluster.local:4318/v1/metrics',
};

describe('renderPanel', () => {
  it.each([40, 60, 79, 80, 120])('fits %i columns: no line is longer', (width) => {
    const lines = renderPanel(summary(), heading, width);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(width);
  });

  it('fits an 80x24 terminal, the last column left free, with every number shown', () => {
    // The live screen draws at width 79 on an 80-column terminal.
    const lines = renderPanel(summary(), heading, 79);
    expect(lines.length).toBeLessThanOrEqual(24);
    const text = lines.join('\n');
    expect(lines[0]).toMatch(/^agentmetry demo · openai-agents · 1 planner\/s +61s$/);
    expect(text).toMatch(/^executions +1441$/m);
    expect(text).toMatch(/^ {2}denied +32 {3}refused by a quota before starting$/m);
    expect(text).toMatch(/^tokens +2433253 {3}in 2100000 · out 333253$/m);
    expect(text).toMatch(/^cost USD +11\.3418$/m);
    expect(text).toMatch(/^quota denials +47 {3}tokens 30 · turns 15 · concurrent 2$/m);
  });

  it('wraps what does not fit onto further lines instead of cutting numbers off', () => {
    const lines = renderPanel(summary({ denials: { tokens: 3000, turns: 1500, concurrent: 200, costUsd: 100, executions: 10 } }), heading, 60);
    const start = lines.findIndex((line) => line.startsWith('quota denials'));
    expect(lines[start]).toMatch(/^quota denials +4810 {3}tokens 3000 · turns 1500$/);
    expect(lines[start + 1]).toBe(`${' '.repeat(26)}concurrent 200 · costUsd 100`);
    expect(lines[start + 2]).toBe(`${' '.repeat(26)}executions 10`);
    // The endpoints take a line each when both do not fit on one.
    expect(lines[1]).toBe('metrics http://127.0.0.1:9464/metrics');
    expect(lines[2]).toBe('OTLP http://otel-collector.observability.svc.cluster.local:…');
  });

  it('shows a quota used past its limit above 100 %, marked as over', () => {
    const lines = renderPanel(summary(), heading, 79);
    const tokens = lines.find((line) => line.startsWith('  tokens '))!;
    expect(tokens).toMatch(/^ {2}tokens +\[!+\] 101% {2}2433253\/2400000 {2}over the limit$/);
    const cost = lines.find((line) => line.startsWith('  cost USD '))!;
    expect(cost).toMatch(/^ {2}cost USD +\[#+\.+\] {2}94% {2}11\.34\/12\.00$/);
    const concurrent = lines.find((line) => line.startsWith('  concurrent '))!;
    expect(concurrent).toMatch(/^ {2}concurrent +\[#+\.+\] {2}35% {2}7\/20$/);
    // Less than 1 % over still reads above 100 (it read 100 % beside 'over the limit').
    const barelyOver = renderPanel(
      summary({ quota: { tokens: usage(2_423_383, 2_400_000), costUsd: usage(11.34, 12), concurrent: usage(7, 20) } }),
      heading,
      79,
    );
    expect(barelyOver.find((line) => line.startsWith('  tokens '))).toMatch(/\] 101% {2}2423383\/2400000 {2}over the limit$/);
  });

  it('says when /metrics could not be read rather than showing a number of its own', () => {
    const lines = renderPanel(summary({ denials: undefined }), heading, 79);
    expect(lines.join('\n')).toMatch(/^quota denials +\? {3}could not read \/metrics$/m);
  });
});

describe('renderLine', () => {
  it('has the denials by resource, tokens as charged and the quota share above 100 %', () => {
    expect(renderLine(summary())).toBe(
      't=61s executions ok=1380 incomplete=15 error=11 timeout=0 aborted=3 denied=32 active=7 tokens=2433253 cost=$11.3418 ' +
        'denials=47 (tokens=30 turns=15 concurrent=2) quota tokens=101% cost=94%',
    );
    expect(renderLine(summary({ denials: {} }))).toContain(' denials=0 quota ');
  });
});

describe('parseDenials', () => {
  it('sums subagent_quota_denials_total by resource over agents and modes', () => {
    const exposition = [
      '# HELP subagent_quota_denials_total Runs denied by a quota',
      'subagent_quota_denials_total{quota_resource="tokens",gen_ai_agent_name="researcher",quota_mode="enforce",otel_scope_name="agentmetry"} 20',
      'subagent_quota_denials_total{quota_resource="tokens",gen_ai_agent_name="helper",quota_mode="enforce",otel_scope_name="agentmetry"} 10',
      'subagent_quota_denials_total{gen_ai_agent_name="researcher",quota_resource="turns",quota_mode="enforce"} 15',
      'subagent_executions_total{gen_ai_agent_name="researcher",subagent_outcome="denied"} 30',
    ].join('\n');
    expect(parseDenials(exposition)).toEqual({ tokens: 30, turns: 15 });
  });
});

describe('fit', () => {
  it('cuts with an ellipsis', () => {
    expect(fit('abcdef', 6)).toBe('abcdef');
    expect(fit('abcdefg', 6)).toBe('abcde…');
  });
});

/** A terminal whose size the test sets, with the resize listeners the screen registers. */
function fakeTerminal(columns: number, rows: number): Terminal & { resize(columns: number, rows: number): void } {
  const listeners = new Set<() => void>();
  const size = { columns, rows };
  return {
    size: () => ({ ...size }),
    onResize: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    resize(newColumns, newRows) {
      size.columns = newColumns;
      size.rows = newRows;
      for (const listener of listeners) listener();
    },
  };
}

describe('LiveScreen', () => {
  it('redraws in place: after frames at different widths and lengths the screen shows the last frame only', () => {
    const terminal = fakeTerminal(120, 30);
    const vt = new VirtualTerminal(120, 30);
    vt.write('$ npx agentmetry demo\n');
    const screen = new LiveScreen({ write: (text: string) => vt.write(text) }, terminal);
    const draw = (value: Summary, withWarning: boolean) => {
      const lines = renderPanel(value, { ...heading, warning: withWarning ? heading.warning : undefined }, screen.width);
      screen.draw(lines);
      return lines;
    };
    terminal.onResize(() => {
      vt.resize(terminal.size().columns!, terminal.size().rows!);
      draw(summary(), true);
    });

    screen.open();
    draw(summary(), true);
    for (const [columns, rows] of [
      [60, 24],
      [80, 24],
      [45, 20],
    ] as const) {
      terminal.resize(columns, rows);
      draw(summary({ elapsedS: 62 }), true);
      const last = draw(summary({ elapsedS: 63, denials: { tokens: 30 } }), false); // shorter: no warning line, one denial resource
      expect(vt.screen().every((row) => row.length < columns)).toBe(true);
      expect(vt.text()).toEqual(last.slice(0, rows).map((line) => line.trimEnd()));
      expect(vt.text().filter((row) => row.startsWith('agentmetry demo'))).toHaveLength(1);
    }

    screen.close();
    expect(vt.alternate).toBe(false);
    expect(vt.text()).toEqual(['$ npx agentmetry demo']);
  });

  it('stops a frame at the last row, so the screen never scrolls', () => {
    const vt = new VirtualTerminal(80, 10);
    const lines = renderPanel(summary(), heading, 79);
    vt.write(frame(lines, 79, 10));
    vt.write(frame(lines, 79, 10));
    expect(vt.text()).toEqual(lines.slice(0, 10).map((line) => line.trimEnd()));
  });

  it('uses 80x24 when the terminal reports no size (a pty may report 0)', () => {
    const screen = new LiveScreen({ write: () => {} }, fakeTerminal(0, 0));
    expect(screen.width).toBe(79);
  });
});
