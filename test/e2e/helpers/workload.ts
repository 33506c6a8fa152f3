/**
 * A deterministic agent workload driven through agentmetry's public API: a
 * planner fans out to researchers in parallel (one fails), each successful
 * researcher nests a summarizer, each summarizer tries a subagent one level too
 * deep (denied by maxDepth), and a separate run times out. Researchers and summarizers record
 * tool calls with set durations (one fails). The test side keeps its
 * own tally of what it asked for, so expectations never come from agentmetry.
 */
import { AgentMeter, QuotaExceededError, type QuotaOptions, type Run } from '../../../src/index.js';
import { ERROR_TYPE_QUOTA_EXCEEDED, ERROR_TYPE_TIMEOUT } from '../../../src/semconv.js';

export class ToolError extends Error {
  override name = 'ToolError';
}

export const AGENT_PLANNER = 'planner';
export const AGENT_RESEARCHER = 'researcher';
export const AGENT_SUMMARIZER = 'summarizer';
export const AGENT_DEEP_DIVE = 'deep-dive';
export const AGENT_SLOWPOKE = 'slowpoke';
export const MAX_DEPTH = 2;
export const TIMEOUT_MS = 20;

const PLANNER = { turns: 2, usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.001 } };
const RESEARCHER = { turns: 3, usage: { inputTokens: 200, outputTokens: 50, costUsd: 0.002 } };
const FAILING_RESEARCHER = { turns: 1 };
const SUMMARIZER = { turns: 1, usage: { inputTokens: 50, outputTokens: 10, costUsd: 0.0005 } };

export const TOOL_SEARCH = 'web_search';
export const TOOL_FETCH = 'fetch_page';
/** The tool calls each run records, with their durations (ms); the failing researcher's search fails. */
const RESEARCHER_TOOLS = [
  { name: TOOL_SEARCH, durationMs: 120 },
  { name: TOOL_FETCH, durationMs: 450 },
  { name: TOOL_FETCH, durationMs: 900 },
];
const FAILING_RESEARCHER_TOOLS = [{ name: TOOL_SEARCH, durationMs: 30, error: new ToolError('search tool unavailable') }];
const SUMMARIZER_TOOLS = [{ name: TOOL_FETCH, durationMs: 60 }];

/** One phase's token and cost totals, from the constants above (2 researchers and 2 summarizers succeed). */
export const TOKENS_PER_PHASE = {
  input: PLANNER.usage.inputTokens + 2 * RESEARCHER.usage.inputTokens + 2 * SUMMARIZER.usage.inputTokens,
  output: PLANNER.usage.outputTokens + 2 * RESEARCHER.usage.outputTokens + 2 * SUMMARIZER.usage.outputTokens,
};
const COST_MICROS_PER_PHASE = (PLANNER.usage.costUsd + 2 * RESEARCHER.usage.costUsd + 2 * SUMMARIZER.usage.costUsd) * 1e6;

/**
 * Quota whose token and cost limits hold `phases` phases of the workload (run
 * fewer: a budget used up to its limit denies the next run). With 3, two phases
 * end at 1/3 and 2/3 of the limits, so warnAt [0.25, 0.5] fires once in each.
 */
export function workloadQuota(phases = 3): QuotaOptions {
  return {
    limits: {
      maxDepth: MAX_DEPTH,
      maxTokens: phases * (TOKENS_PER_PHASE.input + TOKENS_PER_PHASE.output),
      maxCostUsd: (phases * Math.round(COST_MICROS_PER_PHASE)) / 1e6,
      maxExecutions: 100 * phases,
      maxConcurrent: 20,
    },
    scopeBy: 'global',
    warnAt: [0.25, 0.5],
  };
}

const key = (...parts: Array<string | number>) => parts.join('|');

/** What the test asked agentmetry to do, tallied by the test. */
export class Tally {
  readonly executions = new Map<string, number>(); // agent|depth|outcome
  readonly errors = new Map<string, number>(); // agent|depth|error.type
  readonly denials = new Map<string, number>(); // agent|resource
  readonly tokens = new Map<string, number>(); // agent|type
  readonly costNanos = new Map<string, number>(); // agent
  readonly turns = new Map<string, number[]>(); // agent -> turns per run
  readonly runTokens = { input: [] as number[], output: [] as number[] }; // tokens per run that recorded usage
  readonly toolCalls = new Map<string, number>(); // agent|depth|tool|error.type ('' when it succeeded)
  readonly toolDurations = new Map<string, number[]>(); // tool -> seconds per call
  admitted = 0;
  unexpected: unknown[] = [];

  add(map: Map<string, number>, name: string, by = 1): void {
    map.set(name, (map.get(name) ?? 0) + by);
  }
  execution(agent: string, depth: number, outcome: string, errorType?: string): void {
    this.add(this.executions, key(agent, depth, outcome));
    if (errorType !== undefined) this.add(this.errors, key(agent, depth, errorType));
    if (outcome !== 'denied') this.admitted += 1;
  }
  usage(agent: string, usage: { inputTokens: number; outputTokens: number; costUsd: number }): void {
    this.add(this.tokens, key(agent, 'input'), usage.inputTokens);
    this.add(this.tokens, key(agent, 'output'), usage.outputTokens);
    this.add(this.costNanos, agent, Math.round(usage.costUsd * 1e6));
    this.runTokens.input.push(usage.inputTokens);
    this.runTokens.output.push(usage.outputTokens);
  }
  /** Records `calls` on `run`, and tallies them. */
  recordToolCalls(run: Run, calls: ReadonlyArray<{ name: string; durationMs: number; error?: Error }>): void {
    for (const call of calls) {
      run.recordToolCall(call);
      this.add(this.toolCalls, key(run.name, run.depth, call.name, call.error?.name ?? ''));
      this.toolDurations.set(call.name, [...(this.toolDurations.get(call.name) ?? []), call.durationMs / 1000]);
    }
  }
  turn(agent: string, turns: number): void {
    this.turns.set(agent, [...(this.turns.get(agent) ?? []), turns]);
  }
  get totalExecutions(): number {
    return [...this.executions.values()].reduce((sum, count) => sum + count, 0);
  }
  get totalTokens(): number {
    return [...this.tokens.values()].reduce((sum, count) => sum + count, 0);
  }
  get totalCostUsd(): number {
    return [...this.costNanos.values()].reduce((sum, count) => sum + count, 0) / 1e6;
  }
  /** Executions by a subset of the labels, e.g. ['outcome'] or ['agent', 'outcome']. */
  executionsBy(labels: Array<'agent' | 'depth' | 'outcome'>): Map<string, number> {
    return regroup(this.executions, ['agent', 'depth', 'outcome'], labels);
  }
  errorsBy(labels: Array<'agent' | 'depth' | 'type'>): Map<string, number> {
    return regroup(this.errors, ['agent', 'depth', 'type'], labels);
  }
  tokensBy(labels: Array<'agent' | 'type'>): Map<string, number> {
    return regroup(this.tokens, ['agent', 'type'], labels);
  }
  /** Tool calls by a subset of the labels; `failedOnly` keeps those with an error type. */
  toolCallsBy(labels: Array<'agent' | 'depth' | 'tool' | 'errorType'>, failedOnly = false): Map<string, number> {
    const calls = failedOnly ? new Map([...this.toolCalls].filter(([name]) => !name.endsWith('|'))) : this.toolCalls;
    return regroup(calls, ['agent', 'depth', 'tool', 'errorType'], labels);
  }
}

function regroup<L extends string>(map: Map<string, number>, all: L[], labels: L[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, count] of map) {
    const parts = name.split('|');
    const grouped = labels.map((label) => parts[all.indexOf(label)]).join('|');
    out.set(grouped, (out.get(grouped) ?? 0) + count);
  }
  return out;
}

const pause = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis));

/** One phase of the workload. Never throws: unexpected outcomes land in `tally.unexpected`. */
export async function runWorkload(agentmeter: AgentMeter, tally: Tally, phase: number): Promise<void> {
  const summarize = async (run: Run) => {
    await pause(2);
    run.recordTurn(SUMMARIZER.turns);
    run.recordUsage(SUMMARIZER.usage);
    tally.recordToolCalls(run, SUMMARIZER_TOOLS);
    try {
      await agentmeter.run(AGENT_DEEP_DIVE, async () => {
        tally.unexpected.push(new Error('a run deeper than maxDepth was admitted'));
      });
      tally.unexpected.push(new Error('deep-dive was not denied'));
    } catch (error) {
      if (!QuotaExceededError.isInstance(error) || error.resource !== 'depth') tally.unexpected.push(error);
      tally.execution(AGENT_DEEP_DIVE, run.depth + 1, 'denied', ERROR_TYPE_QUOTA_EXCEEDED);
      tally.add(tally.denials, key(AGENT_DEEP_DIVE, 'depth'));
    }
  };
  const research = async (run: Run) => {
    await pause(5);
    run.recordTurn(RESEARCHER.turns);
    run.recordUsage(RESEARCHER.usage);
    tally.recordToolCalls(run, RESEARCHER_TOOLS);
    await agentmeter.run(AGENT_SUMMARIZER, summarize);
    tally.execution(AGENT_SUMMARIZER, run.depth + 1, 'ok');
    tally.usage(AGENT_SUMMARIZER, SUMMARIZER.usage);
    tally.turn(AGENT_SUMMARIZER, SUMMARIZER.turns);
    return 'notes';
  };
  const failingResearch = async (run: Run) => {
    await pause(1);
    run.recordTurn(FAILING_RESEARCHER.turns);
    tally.recordToolCalls(run, FAILING_RESEARCHER_TOOLS);
    throw new ToolError('search tool unavailable');
  };

  try {
    await agentmeter.run({ name: AGENT_PLANNER, conversationId: `conversation-${phase}` }, async (run) => {
      run.recordTurn(PLANNER.turns);
      run.recordUsage(PLANNER.usage);
      const results = await agentmeter.runParallel([
        { subagent: AGENT_RESEARCHER, fn: research },
        { subagent: AGENT_RESEARCHER, fn: research },
        { subagent: AGENT_RESEARCHER, fn: failingResearch },
      ]);
      for (const result of results) {
        if (result.status === 'fulfilled') {
          tally.execution(AGENT_RESEARCHER, run.depth + 1, 'ok');
          tally.usage(AGENT_RESEARCHER, RESEARCHER.usage);
          tally.turn(AGENT_RESEARCHER, RESEARCHER.turns);
        } else if (result.reason instanceof ToolError) {
          tally.execution(AGENT_RESEARCHER, run.depth + 1, 'error', 'ToolError');
          tally.turn(AGENT_RESEARCHER, FAILING_RESEARCHER.turns);
        } else {
          tally.unexpected.push(result.reason);
        }
      }
    });
    tally.execution(AGENT_PLANNER, 0, 'ok');
    tally.usage(AGENT_PLANNER, PLANNER.usage);
    tally.turn(AGENT_PLANNER, PLANNER.turns);
  } catch (error) {
    tally.unexpected.push(error);
  }

  try {
    await agentmeter.run(
      { name: AGENT_SLOWPOKE, timeoutMs: TIMEOUT_MS },
      (run) => new Promise((_resolve, reject) => run.signal.addEventListener('abort', () => reject(run.signal.reason as Error), { once: true })),
    );
    tally.unexpected.push(new Error('slowpoke finished before its timeout'));
  } catch (error) {
    if (QuotaExceededError.isInstance(error)) {
      // Not part of the design: the quota must leave room for every phase the test runs.
      tally.unexpected.push(error);
      tally.execution(AGENT_SLOWPOKE, 0, 'denied', ERROR_TYPE_QUOTA_EXCEEDED);
      tally.add(tally.denials, key(AGENT_SLOWPOKE, error.resource));
    } else {
      tally.execution(AGENT_SLOWPOKE, 0, 'timeout', ERROR_TYPE_TIMEOUT);
      tally.turn(AGENT_SLOWPOKE, 0);
    }
  }
}
