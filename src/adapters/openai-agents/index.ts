/**
 * `agentmetry/openai-agents`: records the runs of the OpenAI Agents SDK as agentmetry runs.
 *
 * Agents used as tools (`agent.asTool()`) are subagents and nest under the run that called
 * them; handoffs stay inside one run (control moves to another agent, nothing nests). Turns,
 * tokens and tool calls (its `function` spans) come from the SDK's own tracing, so it must be enabled: the SDK turns it off when
 * `NODE_ENV=test` or `OPENAI_AGENTS_DISABLE_TRACING=1` (call `setTracingDisabled(false)`).
 */
import { createLogger } from '../../log.js';
import type { AgentMeter } from '../../index.js';
import { countInstall } from '../shared/installs.js';
import { OpenAIAgentsInstrumentation } from './instrumentation.js';
import { OPENAI_AGENTS_OPTION_TYPES, type OpenAIAgentsInstrumentationOptions } from './options.js';
import { checkAdapterOptions } from '../shared/options.js';

export type { OpenAIAgentsInstrumentationOptions, OpenAIAgentsRunInfo } from './options.js';

const logger = createLogger('openai-agents');

/**
 * Instruments the OpenAI Agents SDK. Agent tools created after this call are subagents; a
 * quota that refuses one is reported to the parent model as the tool's output (a tool input
 * guardrail rejection). Returns a function that undoes the instrumentation; runs already in
 * flight finish being recorded. Throws a `TypeError` naming the option when an option is
 * unknown (such as `quota`, which belongs to the `AgentMeter`) or of the wrong type.
 */
export function instrumentOpenAIAgents(agentmeter: Pick<AgentMeter, 'run'>, options: OpenAIAgentsInstrumentationOptions = {}): () => void {
  checkAdapterOptions('instrumentOpenAIAgents', agentmeter, options, OPENAI_AGENTS_OPTION_TYPES);
  const instrumentation = new OpenAIAgentsInstrumentation(agentmeter, options);
  try {
    instrumentation.install();
  } catch (error) {
    logger.error('installing the OpenAI Agents instrumentation failed', error);
    instrumentation.uninstall();
    return () => {};
  }
  if (process.env.NODE_ENV === 'test' || isTruthy(process.env.OPENAI_AGENTS_DISABLE_TRACING)) {
    logger.warn(
      'OpenAI Agents tracing looks disabled (NODE_ENV=test or OPENAI_AGENTS_DISABLE_TRACING); runs are recorded without turns and tokens unless setTracingDisabled(false) is called',
    );
  }
  const uncount = countInstall('the OpenAI Agents SDK', logger);
  return () => {
    uncount();
    instrumentation.uninstall();
  };
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}
