/**
 * The collector goes away mid-run and comes back: the app keeps running (results
 * and errors of the user's functions untouched, no unhandled rejection, its own
 * /metrics keeps counting), and once the collector is back Prometheus shows the
 * right cumulative counts again through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMeter } from '../../src/index.js';
import type { Telemetry } from '../../src/setup/index.js';
import { startCollector, type CollectorPorts, type RunningCollector } from './helpers/collector.js';
import { dashboardQueries, expandQuery, loadDashboards } from './helpers/dashboards.js';
import { startPipelineStack } from './helpers/pipeline-stack.js';
import { sleep, waitFor } from './helpers/processes.js';
import { total, type RunningPrometheus } from './helpers/prometheus.js';
import type { TraceSink } from './helpers/trace-sink.js';
import { runWorkload, Tally, workloadQuota } from './helpers/workload.js';

const SERVICE = 'agentmetry-resilience';
const DIRECT_JOB = 'agentmetry-app';
const PHASES = 4;

let logDir: string;
let sink: TraceSink | undefined;
let ports: CollectorPorts;
let collector: RunningCollector | undefined;
let prometheus: RunningPrometheus | undefined;
let telemetry: Telemetry | undefined;
let agentmeter: AgentMeter;
const tallies: Tally[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const logs = () => `--- collector\n${collector?.process.logTail() ?? ''}\n--- prometheus\n${prometheus?.process.logTail() ?? ''}`;
const expectedExecutions = () => tallies.reduce((sum, tally) => sum + tally.totalExecutions, 0);

async function waitForExecutions(job: string, expected: number): Promise<void> {
  await waitFor(
    `${expected} executions for job ${job}`,
    async () => (total(await prometheus!.query(`sum(subagent_executions_total{job="${job}"})`)) === expected ? true : undefined),
    { timeoutMillis: 90_000, describe: logs },
  );
}

async function phase(): Promise<void> {
  const tally = new Tally();
  tallies.push(tally);
  await runWorkload(agentmeter, tally, tallies.length);
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  ({ logDir, sink, collector, prometheus, telemetry } = await startPipelineStack({
    name: 'resilience',
    serviceName: SERVICE,
    directJob: DIRECT_JOB,
    shutdownTimeoutMillis: 3_000,
  }));
  ports = collector.ports;
  agentmeter = new AgentMeter({ quota: workloadQuota(PHASES + 2) });
});

afterAll(async () => {
  await telemetry?.shutdown();
  await Promise.allSettled([prometheus?.stop(), collector?.stop()]);
  await sink?.stop();
  process.off('unhandledRejection', onUnhandled);
});

describe('collector outage', () => {
  it('counts reach Prometheus through the collector before the outage', async () => {
    await phase();
    await waitForExecutions(SERVICE, expectedExecutions());
  });

  it('with the collector stopped, the app keeps running and its own /metrics keeps counting', async () => {
    await collector!.stop();
    await waitFor('Prometheus to see the collector down', async () => {
      const up = await prometheus!.query('up{job="otel-collector"}');
      return up.length === 1 && up[0]!.value[1] === '0' ? true : undefined;
    });
    await phase();
    await sleep(2_000); // several export intervals against a closed port
    await phase();
    for (const tally of tallies) expect(tally.unexpected).toEqual([]);
    await telemetry!.forceFlush(); // bounded, never rejects, even with nobody listening
    await waitForExecutions(DIRECT_JOB, expectedExecutions());
    expect(unhandled).toEqual([]);
  });

  it('after the collector restarts, Prometheus shows the right cumulative counts through it again', async () => {
    collector = await startCollector({ ports, tracesEndpoint: sink!.url, logDir, name: 'otelcol-restarted' });
    await phase();
    expect(tallies).toHaveLength(PHASES);
    for (const tally of tallies) expect(tally.unexpected).toEqual([]);
    await waitForExecutions(SERVICE, expectedExecutions());

    const merged = new Map<string, number>();
    for (const tally of tallies) for (const [name, count] of tally.executions) merged.set(name, (merged.get(name) ?? 0) + count);
    const byLabels = await prometheus!.query(`sum by (gen_ai_agent_name, subagent_depth, subagent_outcome) (subagent_executions_total{job="${SERVICE}"})`);
    expect(
      new Map(
        byLabels.map((sample) => [
          `${sample.metric.gen_ai_agent_name}|${sample.metric.subagent_depth}|${sample.metric.subagent_outcome}`,
          Number(sample.value[1]),
        ]),
      ),
    ).toEqual(merged);
    const tokens = tallies.reduce((sum, tally) => sum + tally.totalTokens, 0);
    await waitFor('tokens through the restarted collector', async () =>
      total(await prometheus!.query(`sum(subagent_tokens_sum{job="${SERVICE}"})`)) === tokens ? true : undefined,
    );
    expect(total(await prometheus!.query(`sum(subagent_active{job="${SERVICE}"})`))).toBe(0);
  });

  it('the overview dashboard shows the collector path again', async () => {
    const dashboard = loadDashboards().find((entry) => entry.dashboard.uid === 'agentmetry-overview')!.dashboard;
    const entry = dashboardQueries().find((candidate) => candidate.dashboard === dashboard.uid && candidate.panel.title === 'Executions by agent and outcome')!;
    const expr = expandQuery(entry.target.expr, dashboard, { rateInterval: '1m', variables: { job: [SERVICE] } });
    const samples = await prometheus!.query(expr);
    expect(new Set(samples.map((sample) => sample.metric.gen_ai_agent_name))).toEqual(
      new Set([...tallies[0]!.executions.keys()].map((name) => name.split('|')[0])),
    );
  });

  it('saw no unhandled rejection', () => {
    expect(unhandled).toEqual([]);
  });
});
