/**
 * The whole pipeline, for real: a workload through agentmetry's public API exports
 * OTLP to the collector built from collector/builder-config.yaml (running
 * collector/otelcol-config.yaml), which feeds Prometheus (running
 * collector/prometheus.yml) and a trace backend. The same Prometheus also scrapes
 * the app's own /metrics. Then every query of every shipped dashboard panel runs
 * against both paths and must return the workload's numbers.
 *
 * The workload runs twice with a pause between: Prometheus computes rates from
 * samples before and after a change, so queries evaluated over a window that
 * covers the second phase measure exactly that phase (up to Prometheus'
 * extrapolation to the window's edges, hence a tolerance on rates), while raw
 * series give the exact totals of both phases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter, type QuotaOptions } from '../../src/index.js';
import type { Telemetry } from '../../src/setup/index.js';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_SUBAGENT_BATCH_SIZE,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  DURATION_BUCKETS_S,
  SPAN_INVOKE_AGENT,
  SPAN_INVOKE_WORKFLOW_PARALLEL,
  TOKEN_BUCKETS,
  TOOL_DURATION_BUCKETS_S,
  TURN_BUCKETS,
} from '../../src/semconv.js';
import type { RunningCollector } from './helpers/collector.js';
import { dashboardQueries, expandQuery, legendLabels, loadDashboards } from './helpers/dashboards.js';
import { startPipelineStack } from './helpers/pipeline-stack.js';
import { sleep, waitFor } from './helpers/processes.js';
import { total, type PromSample, type RunningPrometheus } from './helpers/prometheus.js';
import type { SinkSpan, TraceSink } from './helpers/trace-sink.js';
import {
  AGENT_DEEP_DIVE,
  AGENT_PLANNER,
  AGENT_RESEARCHER,
  AGENT_SLOWPOKE,
  AGENT_SUMMARIZER,
  runWorkload,
  Tally,
  TIMEOUT_MS,
  workloadQuota,
} from './helpers/workload.js';

const SERVICE = 'agentmetry-e2e';
/** Scrape job of the direct path in collector/prometheus.yml. */
const DIRECT_JOB = 'agentmetry-app';
/** Pause between the phases: the rate window's flat lead-in (longer = less extrapolation error). */
const PLATEAU_MS = 20_000;
/** Prometheus extrapolates rates to the window's edges: with >= 20 s windows and 1 s scrapes, within 15 %. */
const RATE_TOLERANCE = 0.15;

const PATHS = [
  { path: 'collector', job: SERVICE },
  { path: 'direct /metrics', job: DIRECT_JOB },
] as const;

let sink: TraceSink | undefined;
let collector: RunningCollector | undefined;
let prometheus: RunningPrometheus | undefined;
let telemetry: Telemetry | undefined;
let agentmeter: AgentMeter;
const quota: QuotaOptions = workloadQuota(3);
const phase1 = new Tally();
const phase2 = new Tally();
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
/** Evaluation time (s since epoch) and the rate window (s) that covers phase 2 only. */
let evalTime: number;
let windowSeconds: number;

const logs = () => `--- collector\n${collector?.process.logTail() ?? ''}\n--- prometheus\n${prometheus?.process.logTail() ?? ''}`;

async function query(expr: string, time?: number): Promise<PromSample[]> {
  return prometheus!.query(expr, time);
}

/** Waits until Prometheus holds the tallies' totals on both paths. */
async function waitForTotals(tallies: Tally[]): Promise<void> {
  const executions = tallies.reduce((sum, tally) => sum + tally.totalExecutions, 0);
  const tokens = tallies.reduce((sum, tally) => sum + tally.totalTokens, 0);
  for (const { job } of PATHS) {
    await waitFor(
      `${executions} executions and ${tokens} tokens in Prometheus for job ${job}`,
      async () => {
        const seen = total(await query(`sum(subagent_executions_total{job="${job}"})`));
        const seenTokens = total(await query(`sum(subagent_tokens_sum{job="${job}"})`));
        const quotaTokens = total(await query(`max(subagent_quota_used{job="${job}", quota_resource="tokens"})`));
        return seen === executions && seenTokens === tokens && quotaTokens === tokens ? true : undefined;
      },
      { timeoutMillis: 90_000, describe: logs },
    );
  }
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  ({ sink, collector, prometheus, telemetry } = await startPipelineStack({ name: 'pipeline', serviceName: SERVICE, directJob: DIRECT_JOB }));
  agentmeter = new AgentMeter({ quota });

  await runWorkload(agentmeter, phase1, 1);
  await waitForTotals([phase1]);
  const plateauStart = Date.now();
  await sleep(PLATEAU_MS);
  await runWorkload(agentmeter, phase2, 2);
  await waitForTotals([phase1, phase2]);
  await sleep(3_000); // a few more scrapes of the final state
  evalTime = Date.now() / 1000;
  windowSeconds = evalTime - (plateauStart / 1000 + 1);
});

afterAll(async () => {
  await telemetry?.shutdown();
  await Promise.allSettled([prometheus?.stop(), collector?.stop()]);
  await sink?.stop();
  process.off('unhandledRejection', onUnhandled);
});

// ---------------------------------------------------------------------------------------------
// Expectations per panel, from the test's own tally of the workload.

type Results = Record<string, PromSample[]>;
interface Context {
  phase: Tally;
  all: Tally[];
  window: number;
}

const LABEL = {
  agent: 'gen_ai_agent_name',
  depth: 'subagent_depth',
  outcome: 'subagent_outcome',
  errorType: 'error_type',
  tokenType: 'gen_ai_token_type',
  tool: 'gen_ai_tool_name',
  resource: 'quota_resource',
  scope: 'quota_scope',
  threshold: 'quota_threshold',
  mode: 'quota_mode',
} as const;

function keyed(samples: PromSample[], labels: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const sample of samples) {
    const name = labels.map((label) => sample.metric[label] ?? '').join('|');
    expect(out.has(name), `duplicate series ${name}`).toBe(false);
    out.set(name, Number(sample.value[1]));
  }
  return out;
}

function value(samples: PromSample[]): number {
  expect(samples).toHaveLength(1);
  return Number(samples[0]!.value[1]);
}

function near(actual: number, expected: number, tolerance: number, what: string): void {
  expect(Number.isFinite(actual), `${what}: ${actual}`).toBe(true);
  expect(Math.abs(actual - expected), `${what}: ${actual}, expected ${expected} ±${tolerance * 100}%`).toBeLessThanOrEqual(
    Math.abs(expected) * tolerance + 1e-12,
  );
}

/** A rate panel: same label sets as the tally, each rate x window = the phase's count. */
function expectRates(samples: PromSample[], labels: string[], expected: Map<string, number>, window: number, scale = 1): void {
  const actual = keyed(samples, labels);
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, count] of expected) near(actual.get(name)! * window, count * scale, RATE_TOLERANCE, name);
}

function expectAll(samples: PromSample[], predicate: (value: number) => boolean, what: string): void {
  expect(samples.length, what).toBeGreaterThan(0);
  for (const sample of samples) expect(predicate(Number(sample.value[1])), `${what}: ${JSON.stringify(sample)}`).toBe(true);
}

/** The bucket [lower, upper] in which histogram_quantile(q) must land, for these observations. */
function quantileBucket(observations: number[], q: number, bounds: readonly number[]): [number, number] {
  const sorted = [...observations].sort((a, b) => a - b);
  const rank = q * sorted.length;
  let lower = 0;
  for (const upper of bounds) {
    if (sorted.filter((observation) => observation <= upper).length >= rank) return [lower, upper];
    lower = upper;
  }
  return [lower, Number.POSITIVE_INFINITY];
}

function expectQuantiles(samples: PromSample[], label: string, observations: Map<string, number[]>, q: number, bounds: readonly number[]): void {
  const actual = keyed(samples, [label]);
  expect([...actual.keys()].sort()).toEqual([...observations.keys()].sort());
  for (const [name, values] of observations) {
    const [lower, upper] = quantileBucket(values, q, bounds);
    const got = actual.get(name)!;
    expect(got, `p${q * 100} of ${name} (${values.join(',')})`).toBeGreaterThanOrEqual(lower);
    expect(got, `p${q * 100} of ${name} (${values.join(',')})`).toBeLessThanOrEqual(upper);
  }
}

const ADMITTED_AGENTS = [AGENT_PLANNER, AGENT_RESEARCHER, AGENT_SUMMARIZER, AGENT_SLOWPOKE];
const limitOf = (resource: string): number => {
  const limits = quota.limits!;
  const map: Record<string, number | undefined> = {
    executions: limits.maxExecutions,
    tokens: limits.maxTokens,
    costUsd: limits.maxCostUsd,
    concurrent: limits.maxConcurrent,
  };
  return map[resource]!;
};
const usedOf = (all: Tally[], resource: string): number => {
  const sum = (pick: (tally: Tally) => number) => all.reduce((acc, tally) => acc + pick(tally), 0);
  if (resource === 'executions') return sum((tally) => tally.admitted);
  if (resource === 'tokens') return sum((tally) => tally.totalTokens);
  if (resource === 'costUsd') return sum((tally) => tally.totalCostUsd);
  return 0; // concurrent: nothing in flight once the workload has settled
};
const LIMITED = ['executions', 'tokens', 'costUsd', 'concurrent'];
const BURNING = ['executions', 'tokens', 'costUsd'];

const CHECKS: Record<string, (results: Results, context: Context) => void> = {
  // ----- agentmetry-overview
  'agentmetry-overview / Executions per second': (r, { phase, window }) => near(value(r.A!) * window, phase.totalExecutions, RATE_TOLERANCE, 'executions'),
  'agentmetry-overview / Error ratio': (r, { phase }) => {
    const byOutcome = phase.executionsBy(['outcome']);
    const failed = (byOutcome.get('error') ?? 0) + (byOutcome.get('timeout') ?? 0);
    near(value(r.A!), failed / (phase.totalExecutions - (byOutcome.get('denied') ?? 0)), 0.02, 'error ratio');
  },
  'agentmetry-overview / Active now': (r) => expect(value(r.A!)).toBe(0),
  'agentmetry-overview / Tokens per second': (r, { phase, window }) => near(value(r.A!) * window, phase.totalTokens, RATE_TOLERANCE, 'tokens'),
  'agentmetry-overview / Cost per hour': (r, { phase, window }) => near((value(r.A!) / 3600) * window, phase.totalCostUsd, RATE_TOLERANCE, 'cost'),
  'agentmetry-overview / Denied per second': (r, { phase, window }) =>
    near(value(r.A!) * window, phase.executionsBy(['outcome']).get('denied')!, RATE_TOLERANCE, 'denied'),
  'agentmetry-overview / Executions by agent and outcome': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent, LABEL.outcome], phase.executionsBy(['agent', 'outcome']), window),
  'agentmetry-overview / Active executions by agent': (r) => {
    expectAll(r.A!, (active) => active === 0, 'active');
    expect(r.A!.map((sample) => sample.metric[LABEL.agent])).toEqual(expect.arrayContaining(ADMITTED_AGENTS));
  },
  'agentmetry-overview / Executions by depth': (r, { phase, window }) => expectRates(r.A!, [LABEL.depth], phase.executionsBy(['depth']), window),
  'agentmetry-overview / Active executions by depth': (r, { phase }) => {
    expectAll(r.A!, (active) => active === 0, 'active');
    const admittedDepths = [...phase.executions.keys()].filter((name) => !name.endsWith('|denied')).map((name) => name.split('|')[1]);
    expect(r.A!.map((sample) => sample.metric[LABEL.depth])).toEqual(expect.arrayContaining([...new Set(admittedDepths)]));
  },
  'agentmetry-overview / Duration p50 / p95 / p99 by agent': (r) => {
    const [p50, p95, p99] = [keyed(r.A!, [LABEL.agent]), keyed(r.B!, [LABEL.agent]), keyed(r.C!, [LABEL.agent])];
    for (const quantiles of [p50, p95, p99]) expect([...quantiles.keys()].sort()).toEqual([...ADMITTED_AGENTS].sort());
    for (const agent of ADMITTED_AGENTS) {
      expect(p50.get(agent)!).toBeGreaterThan(0);
      expect(p50.get(agent)!).toBeLessThanOrEqual(p95.get(agent)!);
      expect(p95.get(agent)!).toBeLessThanOrEqual(p99.get(agent)!);
      expect(p99.get(agent)!).toBeLessThanOrEqual(DURATION_BUCKETS_S.at(-1)!);
    }
  },
  'agentmetry-overview / Mean duration by outcome': (r, { phase }) => {
    const outcomes = [...phase.executionsBy(['outcome']).keys()].filter((outcome) => outcome !== 'denied');
    const mean = keyed(r.A!, [LABEL.outcome]);
    expect([...mean.keys()].sort()).toEqual(outcomes.sort());
    for (const seconds of mean.values()) expect(seconds).toBeGreaterThan(0);
    // Timed-out runs last about their timeout (Node timers may fire up to a millisecond early).
    expect(mean.get('timeout')!).toBeGreaterThanOrEqual((TIMEOUT_MS - 2) / 1000);
  },
  'agentmetry-overview / Turns per execution p50 / p95 by agent': (r, { phase }) => {
    expectQuantiles(r.A!, LABEL.agent, phase.turns, 0.5, TURN_BUCKETS);
    expectQuantiles(r.B!, LABEL.agent, phase.turns, 0.95, TURN_BUCKETS);
  },
  'agentmetry-overview / Tokens per second by type': (r, { phase, window }) => expectRates(r.A!, [LABEL.tokenType], phase.tokensBy(['type']), window),
  'agentmetry-overview / Tokens per second by agent and type': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent, LABEL.tokenType], phase.tokensBy(['agent', 'type']), window),
  'agentmetry-overview / Tokens per execution p95 by type': (r, { phase }) =>
    expectQuantiles(r.A!, LABEL.tokenType, new Map(Object.entries(phase.runTokens)), 0.95, TOKEN_BUCKETS),
  'agentmetry-overview / Cost per hour by agent': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent], new Map([...phase.costNanos].map(([agent, nanos]) => [agent, nanos / 1e6])), window / 3600),
  'agentmetry-overview / Errors by type': (r, { phase, window }) => expectRates(r.A!, [LABEL.errorType], phase.errorsBy(['type']), window),
  'agentmetry-overview / Errors by agent and type': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent, LABEL.errorType], phase.errorsBy(['agent', 'type']), window),
  'agentmetry-overview / Tool calls per second by tool': (r, { phase, window }) => expectRates(r.A!, [LABEL.tool], phase.toolCallsBy(['tool']), window),
  'agentmetry-overview / Tool calls per second by agent and tool': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent, LABEL.tool], phase.toolCallsBy(['agent', 'tool']), window),
  'agentmetry-overview / Tool call duration p50 / p95 by tool': (r, { phase }) => {
    expectQuantiles(r.A!, LABEL.tool, phase.toolDurations, 0.5, TOOL_DURATION_BUCKETS_S);
    expectQuantiles(r.B!, LABEL.tool, phase.toolDurations, 0.95, TOOL_DURATION_BUCKETS_S);
  },
  'agentmetry-overview / Tool call failures by tool and error type': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.tool, LABEL.errorType], phase.toolCallsBy(['tool', 'errorType'], true), window),

  // ----- agentmetry-quotas (gauges are exact; all in the default global scope)
  'agentmetry-quotas / Quota used (share of limit)': (r, { all }) => {
    const share = keyed(r.A!, [LABEL.scope, LABEL.resource]);
    expect([...share.keys()].sort()).toEqual(LIMITED.map((resource) => `global|${resource}`).sort());
    for (const resource of LIMITED) near(share.get(`global|${resource}`)!, usedOf(all, resource) / limitOf(resource), 1e-9, resource);
  },
  'agentmetry-quotas / Tokens: used, reserved and limit': (r, { all }) => {
    expect(keyed(r.A!, [LABEL.scope])).toEqual(new Map([['global', usedOf(all, 'tokens')]]));
    expect(keyed(r.B!, [LABEL.scope])).toEqual(new Map([['global', 0]]));
    expect(keyed(r.C!, [LABEL.scope])).toEqual(new Map([['global', limitOf('tokens')]]));
  },
  'agentmetry-quotas / Cost: used, reserved and limit': (r, { all }) => {
    near(value(r.A!), usedOf(all, 'costUsd'), 1e-9, 'cost used');
    expect(value(r.B!)).toBe(0);
    near(value(r.C!), limitOf('costUsd'), 1e-12, 'cost limit');
  },
  'agentmetry-quotas / Executions and concurrency against limits': (r, { all }) => {
    expect(keyed(r.A!, [LABEL.resource])).toEqual(
      new Map([
        ['executions', usedOf(all, 'executions')],
        ['concurrent', 0],
      ]),
    );
    expect(keyed(r.B!, [LABEL.resource])).toEqual(
      new Map([
        ['executions', limitOf('executions')],
        ['concurrent', limitOf('concurrent')],
      ]),
    );
  },
  'agentmetry-quotas / Reserved by runs in flight': (r) => {
    expect([...keyed(r.A!, [LABEL.resource]).keys()].sort()).toEqual([...LIMITED].sort());
    expectAll(r.A!, (reserved) => reserved === 0, 'reserved after settlement');
  },
  'agentmetry-quotas / Denials by agent and resource': (r, { phase, window }) =>
    expectRates(r.A!, [LABEL.agent, LABEL.resource, LABEL.mode], new Map([...phase.denials].map(([name, count]) => [`${name}|enforce`, count])), window),
  'agentmetry-quotas / Denied executions by depth': (r, { phase, window }) =>
    expectRates(
      r.A!,
      [LABEL.depth],
      new Map([...phase.executions].filter(([name]) => name.endsWith('|denied')).map(([name, count]) => [name.split('|')[1]!, count])),
      window,
    ),
  'agentmetry-quotas / Soft-limit warnings': (r, { all }) => {
    const crossed = ['tokens', 'costUsd', 'executions'].flatMap((resource) =>
      quota.warnAt!.filter((threshold) => usedOf(all, resource) >= threshold * limitOf(resource)).map((threshold) => `${resource}|${threshold}`),
    );
    expect([...keyed(r.A!, [LABEL.resource, LABEL.threshold]).keys()].sort()).toEqual(crossed.sort());
    expectAll(r.A!, (count) => count >= 0, 'warnings');
  },
  'agentmetry-quotas / Burn rate (share of limit per hour)': (r) => {
    expect([...keyed(r.A!, [LABEL.resource]).keys()].sort()).toEqual([...BURNING].sort());
    expectAll(r.A!, (rate) => Number.isFinite(rate) && rate > 0, 'burn rate');
  },
  'agentmetry-quotas / Time to exhaustion at the current burn rate': (r) => {
    expect([...keyed(r.A!, [LABEL.resource]).keys()].sort()).toEqual([...BURNING].sort());
    expectAll(r.A!, (seconds) => Number.isFinite(seconds) && seconds > 0, 'time to exhaustion');
  },
  // agentmetry's own forecast: phase 2 burned within its horizon, and every budget it burns has some left.
  "agentmetry-quotas / Projected exhaustion (agentmetry's forecast)": (r) => {
    expect([...keyed(r.A!, [LABEL.scope, LABEL.resource]).keys()].sort()).toEqual(BURNING.map((resource) => `global|${resource}`).sort());
    expectAll(r.A!, (seconds) => Number.isFinite(seconds) && seconds > 0, 'projected exhaustion');
  },
};

const dashboards = new Map(loadDashboards().map(({ dashboard }) => [dashboard.uid, dashboard] as const));
const queries = dashboardQueries();
const panels = [...new Set(queries.map((entry) => `${entry.dashboard} / ${entry.panel.title}`))];

async function runPanel(panelKey: string, job: string, variables: Record<string, string | string[]> = {}): Promise<Results> {
  const results: Results = {};
  for (const entry of queries.filter((candidate) => `${candidate.dashboard} / ${candidate.panel.title}` === panelKey)) {
    const dashboard = dashboards.get(entry.dashboard)!;
    const expr = expandQuery(entry.target.expr, dashboard, {
      rateInterval: `${Math.floor(windowSeconds * 1000)}ms`,
      variables: { job: [job], ...variables },
    });
    results[entry.target.refId] = await query(expr, evalTime);
  }
  return results;
}

describe('every dashboard query returns the workload through Prometheus', () => {
  it('every panel has an expectation here (a new panel needs one)', () => {
    expect(panels.sort()).toEqual(Object.keys(CHECKS).sort());
  });

  describe.each(PATHS)('$path (job $job)', ({ job }) => {
    it.each(panels)('%s', async (panelKey) => {
      const results = await runPanel(panelKey, job);
      for (const entry of queries.filter((candidate) => `${candidate.dashboard} / ${candidate.panel.title}` === panelKey)) {
        const samples = results[entry.target.refId]!;
        expect(samples.length, `${entry.key} returned no data`).toBeGreaterThan(0);
        for (const sample of samples) {
          expect(sample.metric.job === undefined || sample.metric.job === job).toBe(true);
          for (const label of legendLabels(entry.target.legendFormat)) expect(sample.metric[label], `${entry.key}: {{${label}}}`).toBeTruthy();
        }
      }
      CHECKS[panelKey]!(results, { phase: phase2, all: [phase1, phase2], window: windowSeconds });
    });
  });

  it.each(panels)('%s: both paths return the same series', async (panelKey) => {
    const [viaCollector, direct] = await Promise.all(PATHS.map(({ job }) => runPanel(panelKey, job)));
    const labelSets = (results: Results) =>
      Object.fromEntries(
        Object.entries(results).map(([refId, samples]) => [
          refId,
          samples
            .map(({ metric }) =>
              JSON.stringify(
                Object.entries(metric)
                  .filter(([name]) => name !== 'job' && name !== 'instance')
                  .sort(),
              ),
            )
            .sort(),
        ]),
      );
    expect(labelSets(direct!)).toEqual(labelSets(viaCollector!));
  });

  it.each(PATHS)('every denial series joins the quota gauges on job and instance, as AgentmetryQuotaDenials needs ($path)', async ({ job }) => {
    const denials = await query(`subagent_quota_denials_total{job="${job}"}`);
    expect(denials.length).toBeGreaterThan(0);
    const joined = await query(`subagent_quota_denials_total{job="${job}"} and on (job, instance) subagent_quota_used`);
    expect(joined.length).toBe(denials.length);
  });

  it.each(PATHS)('the agent and depth filters narrow every panel ($path)', async ({ job }) => {
    for (const panelKey of panels) {
      const results = await runPanel(panelKey, job, { agent: [AGENT_RESEARCHER], depth: ['1'] });
      for (const samples of Object.values(results)) {
        for (const { metric } of samples) {
          if (metric[LABEL.agent] !== undefined) expect(metric[LABEL.agent], panelKey).toBe(AGENT_RESEARCHER);
          if (metric[LABEL.depth] !== undefined) expect(metric[LABEL.depth], panelKey).toBe('1');
        }
      }
    }
    const filtered = await runPanel('agentmetry-overview / Executions by agent and outcome', job, { agent: [AGENT_RESEARCHER], depth: ['1'] });
    expect([...keyed(filtered.A!, [LABEL.agent, LABEL.outcome]).keys()].sort()).toEqual([`${AGENT_RESEARCHER}|error`, `${AGENT_RESEARCHER}|ok`]);
  });

  it.each(PATHS)("the template variables list the workload's values ($path)", async ({ job }) => {
    for (const dashboard of dashboards.values()) {
      for (const variable of dashboard.templating.list.filter((candidate) => candidate.type === 'query')) {
        const match = /^label_values\((.+),\s*(\w+)\)$/.exec(typeof variable.query === 'string' ? variable.query : JSON.stringify(variable.query))!;
        const selector = expandQuery(match[1]!, dashboard, { rateInterval: '1m', variables: { job: [job] } });
        const response = await fetch(`${prometheus!.url}/api/v1/series?${new URLSearchParams({ 'match[]': selector }).toString()}`);
        const body = (await response.json()) as { data: Array<Record<string, string>> };
        const values = new Set(body.data.map((series) => series[match[2]!]).filter((found) => found !== undefined));
        expect(values.size, `${dashboard.uid} $${variable.name}`).toBeGreaterThan(0);
        if (variable.name === 'job') expect([...values].sort()).toEqual(PATHS.map((candidate) => candidate.job).sort()); // $job lists every job
        if (variable.name === 'agent') expect([...values].sort()).toEqual([...ADMITTED_AGENTS, AGENT_DEEP_DIVE].sort());
        if (variable.name === 'depth') expect([...values].sort()).toEqual(['0', '1', '2', '3']);
      }
    }
  });
});

describe('exact totals on both paths (raw series)', () => {
  const both = [phase1, phase2];
  const merged = (pick: (tally: Tally) => Map<string, number>) => {
    const out = new Map<string, number>();
    for (const tally of both) for (const [name, count] of pick(tally)) out.set(name, (out.get(name) ?? 0) + count);
    return out;
  };

  it.each(PATHS)('executions, errors, tokens, cost, histogram counts and quota counters ($path)', async ({ job }) => {
    expect(phase1.unexpected).toEqual([]);
    expect(phase2.unexpected).toEqual([]);
    const at = (expr: string) => query(expr, evalTime);
    expect(
      keyed(await at(`sum by (${LABEL.agent}, ${LABEL.depth}, ${LABEL.outcome}) (subagent_executions_total{job="${job}"})`), [
        LABEL.agent,
        LABEL.depth,
        LABEL.outcome,
      ]),
    ).toEqual(merged((tally) => tally.executions));
    expect(
      keyed(await at(`sum by (${LABEL.agent}, ${LABEL.depth}, ${LABEL.errorType}) (subagent_errors_total{job="${job}"})`), [
        LABEL.agent,
        LABEL.depth,
        LABEL.errorType,
      ]),
    ).toEqual(merged((tally) => tally.errors));
    expect(keyed(await at(`sum by (${LABEL.agent}, ${LABEL.tokenType}) (subagent_tokens_sum{job="${job}"})`), [LABEL.agent, LABEL.tokenType])).toEqual(
      merged((tally) => tally.tokens),
    );
    const cost = keyed(await at(`sum by (${LABEL.agent}) (subagent_cost_USD_total{job="${job}"})`), [LABEL.agent]);
    const expectedCost = merged((tally) => tally.costNanos);
    expect([...cost.keys()].sort()).toEqual([...expectedCost.keys()].sort());
    for (const [agent, nanos] of expectedCost) expect(Math.abs(cost.get(agent)! - nanos / 1e6)).toBeLessThan(1e-9);
    const runsPerAgent = new Map(ADMITTED_AGENTS.map((agent) => [agent, both.reduce((sum, tally) => sum + (tally.turns.get(agent)?.length ?? 0), 0)]));
    expect(keyed(await at(`sum by (${LABEL.agent}) (subagent_duration_seconds_count{job="${job}"})`), [LABEL.agent])).toEqual(runsPerAgent);
    expect(keyed(await at(`sum by (${LABEL.agent}) (subagent_turns_count{job="${job}"})`), [LABEL.agent])).toEqual(runsPerAgent);
    const turnsPerAgent = new Map(
      ADMITTED_AGENTS.map((agent) => [agent, both.reduce((sum, tally) => sum + (tally.turns.get(agent) ?? []).reduce((a, b) => a + b, 0), 0)]),
    );
    expect(keyed(await at(`sum by (${LABEL.agent}) (subagent_turns_sum{job="${job}"})`), [LABEL.agent])).toEqual(turnsPerAgent);
    const toolCalls = keyed(
      await at(`sum by (${LABEL.agent}, ${LABEL.depth}, ${LABEL.tool}, ${LABEL.errorType}) (subagent_tool_duration_seconds_count{job="${job}"})`),
      [LABEL.agent, LABEL.depth, LABEL.tool, LABEL.errorType],
    );
    expect(toolCalls).toEqual(merged((tally) => tally.toolCalls));
    const toolSeconds = keyed(await at(`sum by (${LABEL.tool}) (subagent_tool_duration_seconds_sum{job="${job}"})`), [LABEL.tool]);
    for (const [tool, seconds] of merged((tally) => new Map([...tally.toolDurations].map(([name, values]) => [name, values.reduce((a, b) => a + b, 0)])))) {
      expect(Math.abs(toolSeconds.get(tool)! - seconds), tool).toBeLessThan(1e-9);
    }
    expect(keyed(await at(`sum by (${LABEL.agent}, ${LABEL.resource}) (subagent_quota_denials_total{job="${job}"})`), [LABEL.agent, LABEL.resource])).toEqual(
      merged((tally) => tally.denials),
    );
    const warnings = keyed(await at(`sum by (${LABEL.resource}, ${LABEL.threshold}) (subagent_quota_warnings_total{job="${job}"})`), [
      LABEL.resource,
      LABEL.threshold,
    ]);
    expect([...warnings.values()].every((count) => count === 1)).toBe(true);
    expect(value(await at(`sum(subagent_active{job="${job}"})`))).toBe(0);
  });

  it.each(PATHS)('the quota gauges equal agentmeter.quota.snapshot() ($path)', async ({ job }) => {
    const snapshot = agentmeter.quota!.snapshot();
    const gauge = async (name: string, resource: string) =>
      value(await query(`${name}{job="${job}", quota_scope="global", quota_resource="${resource}"}`, evalTime));
    for (const resource of ['executions', 'tokens', 'costUsd', 'concurrent'] as const) {
      expect(await gauge('subagent_quota_used', resource), resource).toBeCloseTo(snapshot[resource].used, 9);
      expect(await gauge('subagent_quota_reserved', resource), resource).toBe(snapshot[resource].reserved);
      expect(await gauge('subagent_quota_limit', resource), resource).toBeCloseTo(snapshot[resource].limit!, 9);
    }
    expect(snapshot.tokens.used).toBe(phase1.totalTokens + phase2.totalTokens);
    expect(snapshot.executions.used).toBe(phase1.admitted + phase2.admitted);
  });
});

describe('traces through the collector', () => {
  const spanTree = async (conversation: string) =>
    waitFor(
      `the span tree of ${conversation} at the trace backend`,
      async () => {
        await telemetry!.forceFlush();
        const root = sink!.spans.find((span) => span.attributes[ATTR_GEN_AI_CONVERSATION_ID] === conversation && span.parentSpanId === '');
        if (root === undefined) return undefined;
        const trace = sink!.spans.filter((span) => span.traceId === root.traceId);
        // planner, the parallel workflow, 3 researchers, 2 summarizers, 2 denied deep-dives
        return trace.length >= 9 ? { root, trace } : undefined;
      },
      { timeoutMillis: 60_000, describe: logs },
    );

  it.each(['conversation-1', 'conversation-2'])('%s: invoke_agent spans nest under invoke_workflow, intact', async (conversation) => {
    const { root, trace } = await spanTree(conversation);
    const children = (parent: SinkSpan) => trace.filter((span) => span.parentSpanId === parent.spanId);
    expect(trace).toHaveLength(9);
    expect(new Set(trace.map((span) => span.spanId)).size).toBe(9);
    expect(trace.every((span) => span.serviceName === SERVICE)).toBe(true);
    expect(root.name).toBe(`${SPAN_INVOKE_AGENT} ${AGENT_PLANNER}`);
    expect(root.attributes[ATTR_SUBAGENT_DEPTH]).toBe(0);

    const [workflow, ...otherChildren] = children(root);
    expect(otherChildren).toEqual([]);
    expect(workflow!.name).toBe(SPAN_INVOKE_WORKFLOW_PARALLEL);
    expect(workflow!.attributes[ATTR_SUBAGENT_BATCH_SIZE]).toBe(3);

    const researchers = children(workflow!);
    expect(researchers.map((span) => span.name)).toEqual(Array(3).fill(`${SPAN_INVOKE_AGENT} ${AGENT_RESEARCHER}`));
    expect(researchers.map((span) => span.attributes[ATTR_SUBAGENT_OUTCOME]).sort()).toEqual(['error', 'ok', 'ok']);
    for (const researcher of researchers) {
      expect(researcher.attributes[ATTR_SUBAGENT_DEPTH]).toBe(1);
      const summarizers = children(researcher);
      if (researcher.attributes[ATTR_SUBAGENT_OUTCOME] === 'error') {
        expect(summarizers).toEqual([]);
        expect(researcher.status.code).toBe(2); // STATUS_CODE_ERROR
        continue;
      }
      expect(summarizers.map((span) => span.name)).toEqual([`${SPAN_INVOKE_AGENT} ${AGENT_SUMMARIZER}`]);
      expect(summarizers[0]!.attributes[ATTR_SUBAGENT_DEPTH]).toBe(2);
      const deep = children(summarizers[0]!);
      expect(deep.map((span) => [span.name, span.attributes[ATTR_SUBAGENT_DEPTH], span.attributes[ATTR_SUBAGENT_OUTCOME]])).toEqual([
        [`${SPAN_INVOKE_AGENT} ${AGENT_DEEP_DIVE}`, 3, 'denied'],
      ]);
    }
    for (const span of trace) expect(span.attributes[ATTR_GEN_AI_AGENT_NAME] ?? 'workflow').toBeTruthy();
  });

  it('the timed-out run is its own trace, with outcome timeout', async () => {
    await waitFor(
      'two slowpoke spans',
      async () => (sink!.spans.filter((span) => span.name === `${SPAN_INVOKE_AGENT} ${AGENT_SLOWPOKE}`).length === 2 ? true : undefined),
      {
        timeoutMillis: 30_000,
        describe: logs,
      },
    );
    for (const span of sink!.spans.filter((candidate) => candidate.name === `${SPAN_INVOKE_AGENT} ${AGENT_SLOWPOKE}`)) {
      expect(span.parentSpanId).toBe('');
      expect(span.attributes[ATTR_SUBAGENT_OUTCOME]).toBe('timeout');
    }
  });
});

describe('alert rules on real data', () => {
  it("every shipped alert rule evaluates without error against the pipeline's series", async () => {
    const response = await fetch(`${prometheus!.url}/api/v1/rules`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const rules = body.data.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name).sort()).toHaveLength(7);
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError ?? ''}`).not.toBe('err');
  });

  it('the series each alert reads exist on both paths (no alert is blind because of a name)', async () => {
    for (const { job } of PATHS) {
      for (const metric of [
        'subagent_quota_used',
        'subagent_quota_limit',
        'subagent_quota_denials_total',
        'subagent_quota_exhaustion_seconds',
        'subagent_executions_total',
        'subagent_duration_seconds_bucket',
        'subagent_active',
      ]) {
        expect((await query(`count(${metric}{job="${job}"})`, evalTime)).length, `${metric} for ${job}`).toBe(1);
      }
    }
  });
});

describe('the app', () => {
  it('saw no unhandled rejection', () => {
    expect(unhandled).toEqual([]);
  });
});
