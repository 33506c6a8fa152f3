import type { AgentMeter, QuotaOptions } from '../index.js';

/** Prices used to give the mock usage a cost (USD per million tokens). */
const PRICE_INPUT_PER_M = 3;
const PRICE_OUTPUT_PER_M = 15;

export interface Workload {
  /** Runs one planner to completion (or until `signal` aborts). Never rejects. */
  runPlanner(signal: AbortSignal): Promise<void>;
  /** Removes the adapter. */
  uninstall(): void;
}

/**
 * Quotas for the demo, scaled by the rate so that the token budget runs out after roughly
 * fifty seconds whatever `--rate` is; runs past 10 turns end `incomplete`.
 */
export function demoQuota(rate: number): QuotaOptions {
  return {
    limits: {
      maxTokens: Math.round(2_400_000 * rate),
      maxCostUsd: Math.round(12 * rate * 100) / 100,
      maxConcurrent: Math.max(4, Math.round(20 * rate)),
      maxTurnsPerRun: 10,
    },
    warnAt: [0.8],
  };
}

export const usageCost = ({ inputTokens, outputTokens }: { inputTokens: number; outputTokens: number }) =>
  (inputTokens * PRICE_INPUT_PER_M + outputTokens * PRICE_OUTPUT_PER_M) / 1_000_000;

interface Step {
  calls?: Array<{ tool: string; input: Record<string, string> }>;
  text?: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** The model call fails with this error name. */
  failWith?: string;
}

/**
 * The demo workload on the Vercel AI SDK with its mock model: a planner that fans researchers
 * out in parallel through a `research` tool; some researchers look facts up through a
 * `lookup` tool that runs a helper agent. Spreads of turns, tokens and latencies are random;
 * a few model calls fail.
 */
export async function createAiSdkWorkload(agentmeter: AgentMeter): Promise<Workload> {
  const ai = await import('ai');
  const { MockLanguageModelV4 } = await import('ai/test');
  const { instrumentAiSdk } = await import('../adapters/ai-sdk/index.js');
  const uninstall = instrumentAiSdk(agentmeter, { costUsd: usageCost });

  const model = (modelId: string, steps: Step[]) => {
    let index = 0;
    return new MockLanguageModelV4({
      modelId,
      doGenerate: async ({ abortSignal }) => {
        const step = steps[Math.min(index++, steps.length - 1)]!;
        await sleep(step.latencyMs, abortSignal);
        if (step.failWith !== undefined) {
          const error = new Error(`${modelId}: simulated ${step.failWith}`);
          error.name = step.failWith;
          throw error;
        }
        const content = step.calls
          ? step.calls.map((call, position) => ({
              type: 'tool-call' as const,
              toolCallId: `${call.tool}-${index}-${position}-${Math.random().toString(36).slice(2, 8)}`,
              toolName: call.tool,
              input: JSON.stringify(call.input),
            }))
          : [{ type: 'text' as const, text: step.text ?? 'done' }];
        return {
          content,
          finishReason: step.calls ? { unified: 'tool-calls' as const, raw: 'tool_calls' } : { unified: 'stop' as const, raw: 'stop' },
          usage: {
            inputTokens: { total: step.inputTokens, noCache: step.inputTokens, cacheRead: 0, cacheWrite: 0 },
            outputTokens: { total: step.outputTokens, text: step.outputTokens, reasoning: 0 },
          },
          warnings: [],
        };
      },
    });
  };

  const topicSchema = ai.jsonSchema<{ topic: string }>({ type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] });

  const lookup = ai.tool({
    description: 'Looks a fact up',
    inputSchema: topicSchema,
    execute: async ({ topic }, { abortSignal }) => {
      const steps = Array.from({ length: randomInt(1, 2) }, () => modelStep(300, 1200, 40, 200));
      const result = await ai.generateText({ model: model('helper-mini', finish(steps)), prompt: topic, abortSignal, telemetry: { functionId: 'helper' } });
      return result.text;
    },
  });

  const research = ai.tool({
    description: 'Researches one topic',
    inputSchema: topicSchema,
    execute: async ({ topic }, { abortSignal }) => {
      // Mostly short loops, now and then a long one that runs into maxTurnsPerRun.
      const turns = Math.random() < 0.08 ? randomInt(11, 14) : randomInt(1, 5);
      const steps: Step[] = [];
      for (let turn = 0; turn < turns - 1; turn += 1) {
        const step = modelStep(1000, 6000, 80, 600);
        step.calls = [{ tool: Math.random() < 0.25 ? 'lookup' : 'note', input: { topic: `${topic} #${turn}` } }];
        steps.push(step);
      }
      steps.push(modelStep(1500, 8000, 200, 1500));
      if (Math.random() < 0.05) steps[randomInt(0, steps.length - 1)]!.failWith = Math.random() < 0.5 ? 'RateLimitError' : 'APICallError';
      const result = await ai.generateText({
        model: model('research-large', finish(steps)),
        prompt: topic,
        tools: { lookup, note },
        stopWhen: ai.isStepCount(20),
        abortSignal,
        telemetry: { functionId: 'researcher' },
      });
      return result.text;
    },
  });

  const note = ai.tool({
    description: 'Takes a note',
    inputSchema: topicSchema,
    execute: ({ topic }) => Promise.resolve(`noted ${topic}`),
  });

  return {
    uninstall,
    async runPlanner(signal) {
      const topics = Array.from({ length: randomInt(2, 5) }, (_, index) => ({ tool: 'research', input: { topic: `topic ${index + 1}` } }));
      const plan = modelStep(800, 2500, 100, 400);
      plan.calls = topics;
      try {
        await ai.generateText({
          model: model('planner-large', [plan, modelStep(2000, 9000, 300, 1200)]),
          prompt: 'Plan and delegate the research',
          tools: { research },
          stopWhen: ai.isStepCount(4),
          abortSignal: signal,
          telemetry: { functionId: 'planner' },
        });
      } catch {
        // Denials, failures and aborts are what the demo shows; agentmetry has recorded them.
      }
    },
  };
}

function modelStep(minInput: number, maxInput: number, minOutput: number, maxOutput: number): Step {
  return {
    inputTokens: logUniformInt(minInput, maxInput),
    outputTokens: logUniformInt(minOutput, maxOutput),
    latencyMs: logUniformInt(60, 1200),
  };
}

/** Marks the last step as the final answer. */
function finish(steps: Step[]): Step[] {
  const last = steps[steps.length - 1]!;
  if (last.calls === undefined) last.text = 'findings';
  return steps;
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function logUniformInt(min: number, max: number): number {
  return Math.round(Math.exp(Math.log(min) + Math.random() * (Math.log(max) - Math.log(min))));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
