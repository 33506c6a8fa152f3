/**
 * `agentmetry/mastra`: records the runs of Mastra agents (`@mastra/core` 1.x) as agentmetry runs.
 *
 * A subagent is an agent that another delegates to (its `agents` become `agent-<key>` tools):
 * it nests under the run of the agent that delegated, whatever the depth, and a quota that
 * refuses it makes Mastra's `onDelegationStart` reject the delegation, so its model is never
 * called and the delegating model receives `[Delegation Rejected] <reason>` as the tool's
 * result. Turns are steps, tokens each step's usage, tool calls each tool the run called.
 */
import { createLogger } from '../../log.js';
import type { AgentMeter } from '../../index.js';
import { countInstall } from '../shared/installs.js';
import { checkAdapterOptions } from '../shared/options.js';
import { MastraInstrumentation } from './instrumentation.js';
import { MASTRA_OPTION_TYPES, type MastraInstrumentationOptions } from './options.js';

export type { MastraInstrumentationOptions, MastraRunInfo } from './options.js';

const logger = createLogger('mastra');

/**
 * Instruments every Mastra agent in the process: `Agent.prototype.generate` and `.stream` are
 * wrapped, and each call gets Mastra's own delegation, step and tool-call hooks, merged with the
 * app's. Returns a function that restores both methods; runs already in flight finish being
 * recorded. Throws a `TypeError` naming the option when an option is unknown (such as `quota`,
 * which belongs to the `AgentMeter`) or of the wrong type.
 */
export function instrumentMastra(agentmeter: Pick<AgentMeter, 'run'>, options: MastraInstrumentationOptions = {}): () => void {
  checkAdapterOptions('instrumentMastra', agentmeter, options, MASTRA_OPTION_TYPES);
  const instrumentation = new MastraInstrumentation(agentmeter, options);
  try {
    instrumentation.install();
  } catch (error) {
    logger.error('installing the Mastra instrumentation failed', error);
    instrumentation.uninstall();
    return () => {};
  }
  const uncount = countInstall('Mastra', logger);
  return () => {
    uncount();
    instrumentation.uninstall();
  };
}
