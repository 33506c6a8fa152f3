/**
 * `agentmetry/ai-sdk`: records every agent run of the Vercel AI SDK (v7) as an agentmetry run.
 *
 * A subagent is a `generateText`/`streamText` call (a `ToolLoopAgent` run included) started
 * inside a tool's `execute`; it nests under the run of the call that executed the tool.
 * Turns are steps, tokens are the steps' usage (their sum is the call's `totalUsage`), and a
 * run that a quota refuses fails with a `QuotaExceededError` before its first model request,
 * which the parent model receives as a tool error.
 */
import { createLogger } from '../../log.js';
import * as ai from 'ai';
import type { Telemetry } from 'ai';
import type { AgentMeter } from '../../index.js';
import { countInstall } from '../shared/installs.js';
import { createAiSdkIntegration } from './integration.js';
import { AI_SDK_OPTION_TYPES, type AiSdkInstrumentationOptions } from './options.js';
import { checkAdapterOptions } from '../shared/options.js';

export type { AiSdkInstrumentationOptions, AiSdkRunInfo } from './options.js';
export { createAiSdkIntegration } from './integration.js';

const logger = createLogger('ai-sdk');

type GlobalWithIntegrations = typeof globalThis & { AI_SDK_TELEMETRY_INTEGRATIONS?: Telemetry[] };

/**
 * Registers the adapter as a global AI SDK telemetry integration. Returns a function that
 * removes it again; calls already in flight finish being recorded.
 *
 * Calls that pass their own `telemetry.integrations`, or `telemetry.isEnabled: false`, bypass
 * global integrations in the AI SDK and are therefore not recorded; add
 * `createAiSdkIntegration(agentmeter)` to their list to include them.
 *
 * Throws a `TypeError` naming the option when an option is unknown (such as `quota`, which
 * belongs to the `AgentMeter`) or of the wrong type.
 */
export function instrumentAiSdk(agentmeter: Pick<AgentMeter, 'run'>, options: AiSdkInstrumentationOptions = {}): () => void {
  checkAdapterOptions('instrumentAiSdk', agentmeter, options, AI_SDK_OPTION_TYPES);
  const register = (ai as { registerTelemetry?: (...integrations: Telemetry[]) => void }).registerTelemetry;
  if (typeof register !== 'function') {
    logger.warn('the installed `ai` package has no registerTelemetry (AI SDK v7 or later is needed); not instrumenting');
    return () => {};
  }
  const integration = createAiSdkIntegration(agentmeter, options);
  register(integration);
  const uncount = countInstall('the Vercel AI SDK', logger);
  return () => {
    uncount();
    const integrations = (globalThis as GlobalWithIntegrations).AI_SDK_TELEMETRY_INTEGRATIONS;
    const index = integrations?.indexOf(integration) ?? -1;
    if (index >= 0) integrations!.splice(index, 1);
  };
}
