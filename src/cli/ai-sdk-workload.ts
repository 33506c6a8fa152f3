import * as ai from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { instrumentAiSdk } from '../adapters/ai-sdk/index.js';
import {
  CALL_LIMITS,
  MAX_RESEARCHER_TURNS,
  helperSteps,
  plannerSteps,
  researcherSteps,
  sleep,
  stepError,
  usageCost,
  type DemoModel,
  type Step,
  type WorkloadFactory,
} from './workload.js';

/**
 * The demo workload on the Vercel AI SDK with its mock model: `generateText` per agent, the
 * `research` and `lookup` tools running the researcher and helper agents.
 */
export const createAiSdkWorkload: WorkloadFactory = (agentmeter, speed) => {
  // Each model call holds its worst case before the call: the simulated input counts are the
  // app's own (the adapter's byte bound holds only for real prompts), the output cap is maxOutputTokens.
  const uninstall = instrumentAiSdk(agentmeter, { costUsd: usageCost, callLimits: (call) => CALL_LIMITS[call.modelId as DemoModel] });

  const model = (modelId: DemoModel, steps: Step[]) => {
    let index = 0;
    return new MockLanguageModelV4({
      modelId,
      doGenerate: async ({ abortSignal }) => {
        const step = steps[Math.min(index++, steps.length - 1)]!;
        await sleep(step.latencyMs, abortSignal);
        const error = stepError(modelId, step);
        if (error !== undefined) throw error;
        const content = step.calls
          ? step.calls.map((call, position) => ({
              type: 'tool-call' as const,
              toolCallId: `${call.tool}-${index}-${position}-${Math.random().toString(36).slice(2, 8)}`,
              toolName: call.tool,
              input: JSON.stringify({ topic: call.topic }),
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
      const result = await ai.generateText({
        model: model('helper-mini', helperSteps(speed)),
        prompt: topic,
        maxOutputTokens: CALL_LIMITS['helper-mini'].maxOutputTokens,
        abortSignal,
        telemetry: { functionId: 'helper' },
      });
      return result.text;
    },
  });

  const note = ai.tool({
    description: 'Takes a note',
    inputSchema: topicSchema,
    execute: ({ topic }) => Promise.resolve(`noted ${topic}`),
  });

  const research = ai.tool({
    description: 'Researches one topic',
    inputSchema: topicSchema,
    execute: async ({ topic }, { abortSignal }) => {
      const result = await ai.generateText({
        model: model('research-large', researcherSteps(speed, topic)),
        prompt: topic,
        maxOutputTokens: CALL_LIMITS['research-large'].maxOutputTokens,
        tools: { lookup, note },
        stopWhen: ai.isStepCount(MAX_RESEARCHER_TURNS),
        abortSignal,
        telemetry: { functionId: 'researcher' },
      });
      return result.text;
    },
  });

  return {
    uninstall,
    async runPlanner(signal) {
      try {
        await ai.generateText({
          model: model('planner-large', plannerSteps(speed)),
          prompt: 'Plan and delegate the research',
          maxOutputTokens: CALL_LIMITS['planner-large'].maxOutputTokens,
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
};
