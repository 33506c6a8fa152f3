/**
 * `agentmetry/ai-sdk`: records every agent run of the Vercel AI SDK (5, 6 or 7) as an agentmetry run.
 *
 * AI SDK 7: a subagent is a `generateText`/`streamText` call (a `ToolLoopAgent` run included)
 * started inside a tool's `execute`; it nests under the run of the call that executed the tool.
 * Turns are steps, tokens are the steps' usage (their sum is the call's `totalUsage`), and a
 * run that a quota refuses fails with a `QuotaExceededError` before its first model request,
 * which the parent model receives as a tool error.
 *
 * AI SDK 5 and 6: the same for every agent-class call (`Experimental_Agent`, `ToolLoopAgent`:
 * their `generate` and `stream`), through a wrap of the class's prototype methods; plain
 * `generateText`/`streamText` calls are not recorded (see docs/adapters/ai-sdk.md).
 */
import { createLogger } from '../../log.js';
import { isObject } from '../../is-object.js';
import * as ai from 'ai';
import type { Telemetry } from 'ai';
import type { AgentMeter } from '../../index.js';
import { countInstall } from '../shared/installs.js';
import { createAiSdkIntegration } from './integration.js';
import { instrumentAgentClass, type AgentClass, type AsSchema } from './agent-class.js';
import { AI_SDK_OPTION_TYPES, type AiSdkInstallOptions, type AiSdkInstrumentationOptions } from './options.js';
import { checkAdapterOptions, type OptionTypes } from '../shared/options.js';

export type { AiSdkInstallOptions, AiSdkInstrumentationOptions, AiSdkModelCallInfo, AiSdkRunInfo } from './options.js';
export { createAiSdkIntegration } from './integration.js';

const logger = createLogger('ai-sdk');

/**
 * The options `instrumentAiSdk` knows, for the check's "expected one of" list. `ai` is taken out
 * of the options and checked on its own (a module, not a boolean or a function) before the rest is.
 */
const INSTALL_OPTION_TYPES = { ...AI_SDK_OPTION_TYPES, ai: 'function' } as OptionTypes<AiSdkInstrumentationOptions>;

type GlobalWithIntegrations = typeof globalThis & { AI_SDK_TELEMETRY_INTEGRATIONS?: Telemetry[] };

/** What the adapter uses of an `ai` module, by major. */
interface AiModule {
  /** AI SDK 7. */
  registerTelemetry?: unknown;
  /** AI SDK 6 (and 7). */
  ToolLoopAgent?: unknown;
  /** AI SDK 5 (an alias of `ToolLoopAgent` in 6). */
  Experimental_Agent?: unknown;
  /** A tool's input schema as the JSON Schema the SDK sends (5 and 6: for the bound on a step's request). */
  asSchema?: unknown;
}

/** How the adapter hooks into the `ai` module it was given: by the features that module has, not its version string. */
type Hook = { major: 7; register: (...integrations: Telemetry[]) => void } | { major: 5 | 6; agentClass: AgentClass; asSchema: AsSchema | undefined };

function hookOf(module: AiModule): Hook | undefined {
  if (typeof module.registerTelemetry === 'function') return { major: 7, register: module.registerTelemetry as (...integrations: Telemetry[]) => void };
  const asSchema = typeof module.asSchema === 'function' ? (module.asSchema as AsSchema) : undefined;
  if (typeof module.ToolLoopAgent === 'function') return { major: 6, agentClass: module.ToolLoopAgent, asSchema };
  if (typeof module.Experimental_Agent === 'function') return { major: 5, agentClass: module.Experimental_Agent, asSchema };
  return undefined;
}

/**
 * Instruments the AI SDK that `options.ai` is (default: the `ai` package this module resolves,
 * the app's). Returns a function that removes the instrumentation again; calls already in
 * flight finish being recorded.
 *
 * AI SDK 7: registers a global telemetry integration. Calls that pass their own
 * `telemetry.integrations`, or `telemetry.isEnabled: false`, bypass global integrations in the AI
 * SDK and are therefore not recorded; add `createAiSdkIntegration(agentmeter)` to their list to
 * include them.
 *
 * AI SDK 5 and 6: wraps `generate` and `stream` of the agent class (`Experimental_Agent`,
 * `ToolLoopAgent`) on its prototype; only agent-class calls are recorded.
 *
 * Throws a `TypeError` naming the option when an option is unknown (such as `quota`, which
 * belongs to the `AgentMeter`) or of the wrong type, or when `options.ai` is not an AI SDK 5, 6
 * or 7 module.
 */
export function instrumentAiSdk(agentmeter: Pick<AgentMeter, 'run'>, options: AiSdkInstallOptions = {}): () => void {
  const { ai: given, ...instrumentation } = isObject(options) && !Array.isArray(options) ? options : { ai: undefined };
  checkAdapterOptions('instrumentAiSdk', agentmeter, isObject(options) && !Array.isArray(options) ? instrumentation : options, INSTALL_OPTION_TYPES);
  let hook: Hook | undefined;
  if (given !== undefined) {
    hook = isObject(given) ? hookOf(given) : undefined;
    if (hook === undefined) {
      throw new TypeError(
        `agentmetry: instrumentAiSdk options.ai must be an AI SDK 5, 6 or 7 module (import * as ai from 'ai'), got ${isObject(given) ? 'an object without registerTelemetry, ToolLoopAgent or Experimental_Agent' : typeof given}`,
      );
    }
  } else {
    hook = hookOf(ai);
    if (hook === undefined) {
      logger.warn('the installed `ai` package has neither registerTelemetry nor an agent class (AI SDK 5 or later is needed); not instrumenting');
      return () => {};
    }
  }
  const remove =
    hook.major === 7
      ? registerIntegration(hook.register, createAiSdkIntegration(agentmeter, instrumentation))
      : instrumentAgentClass(hook.agentClass, agentmeter, instrumentation, hook.asSchema);
  const uncount = countInstall('the Vercel AI SDK', logger);
  let installed = true;
  return () => {
    if (!installed) return;
    installed = false;
    uncount();
    remove();
  };
}

function registerIntegration(register: (...integrations: Telemetry[]) => void, integration: Telemetry): () => void {
  register(integration);
  return () => {
    const integrations = (globalThis as GlobalWithIntegrations).AI_SDK_TELEMETRY_INTEGRATIONS;
    const index = integrations?.indexOf(integration) ?? -1;
    if (index >= 0) integrations!.splice(index, 1);
  };
}
