import { Agent, Usage, run, setTraceProcessors, setTracingDisabled, tool, type Model, type ModelRequest, type ModelResponse } from '@openai/agents';
import { assistantMessage, functionCall } from '@openai/agents/testing';
import { instrumentOpenAIAgents } from '../adapters/openai-agents/index.js';
import { MAX_RESEARCHER_TURNS, helperSteps, plannerSteps, researcherSteps, sleep, stepError, usageCost, type Step, type WorkloadFactory } from './workload.js';

/**
 * The demo workload on the OpenAI Agents SDK with a simulated model: the researchers and the
 * helper are agents used as tools (`agent.asTool()`), so they nest under the run that calls
 * them, as the adapter records subagents.
 */
export const createOpenAIAgentsWorkload: WorkloadFactory = (agentmeter, speed) => {
  // Offline: the SDK's own exporter (to OpenAI's backend) goes, before agentmetry adds its
  // processor. Tracing is where the adapter reads turns and tokens, so it stays on even under
  // NODE_ENV=test; its spans go nowhere else.
  setTraceProcessors([]);
  setTracingDisabled(false);
  const uninstall = instrumentOpenAIAgents(agentmeter, { costUsd: usageCost });

  const note = tool({
    name: 'note',
    description: 'Takes a note',
    parameters: { type: 'object', properties: { input: { type: 'string' } }, required: ['input'], additionalProperties: false },
    strict: true,
    execute: (input) => `noted ${JSON.stringify(input)}`,
  });

  const researcher = (topic: string) => {
    const helper = new Agent({ name: 'helper', instructions: 'Look the fact up.', model: new SimulatedModel('helper-mini', () => helperSteps(speed)[0]!) });
    return new Agent({
      name: 'researcher',
      instructions: `Research ${topic}.`,
      model: new SimulatedModel('research-large', inOrder(researcherSteps(speed, topic))),
      tools: [helper.asTool({ toolName: 'lookup', toolDescription: 'Looks a fact up' }), note],
    });
  };

  return {
    uninstall,
    async runPlanner(signal) {
      const steps = plannerSteps(speed);
      const topics = steps[0]!.calls ?? [];
      const planner = new Agent({
        name: 'planner',
        instructions: 'Plan and delegate the research.',
        model: new SimulatedModel('planner-large', inOrder(steps)),
        tools: topics.map((call, index) =>
          researcher(call.topic).asTool({
            toolName: `research_${index + 1}`,
            toolDescription: `Researches ${call.topic}`,
            runOptions: { maxTurns: MAX_RESEARCHER_TURNS },
          }),
        ),
      });
      try {
        await run(planner, 'Plan and delegate the research', { signal, maxTurns: 4 });
      } catch {
        // Denials, failures and aborts are what the demo shows; agentmetry has recorded them.
      }
    },
  };
};

/** A model that answers each request with the next simulated step, after its latency. */
class SimulatedModel implements Model {
  #calls = 0;

  constructor(
    private readonly name: string,
    private readonly next: () => Step,
  ) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    const step = this.next();
    await sleep(step.latencyMs, request.signal);
    const error = stepError(this.name, step);
    if (error !== undefined) throw error;
    this.#calls += 1;
    const output = step.calls
      ? step.calls.map((call, position) => {
          // The planner's research calls go to one tool per researcher (research_1, research_2, ...).
          const name = call.tool === 'research' ? `research_${position + 1}` : call.tool;
          return functionCall(name, { input: call.topic }, { callId: `${name}-${this.#calls}-${position}` });
        })
      : [assistantMessage(step.text ?? 'done')];
    const usage = new Usage({
      requests: 1,
      input_tokens: step.inputTokens,
      output_tokens: step.outputTokens,
      total_tokens: step.inputTokens + step.outputTokens,
    });
    return { output, usage, responseId: `${this.name}-${this.#calls}` };
  }

  getStreamedResponse(): AsyncIterable<never> {
    throw new Error('the demo does not stream');
  }
}

/** Steps one after the other; the last one again if the framework asks for more. */
function inOrder(steps: Step[]): () => Step {
  let index = 0;
  return () => steps[Math.min(index++, steps.length - 1)]!;
}
