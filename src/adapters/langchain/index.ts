/**
 * `agentmetry/langchain`: records the graph runs of LangChain.js and LangGraph.js (`createAgent`
 * agents and compiled graphs) as agentmetry runs.
 *
 * A subagent is a graph run started from a tool, or a compiled subgraph used as a node; it nests
 * under the run that contains it. Handoffs between the agents of a supervisor or a swarm graph
 * make them siblings under that graph's run, not a chain of nested runs. Turns are model calls,
 * tokens their `usage_metadata`, tool calls the tool runs its model asked for; a run that a quota refuses fails before its first node, and a
 * tool that started it hands the refusal to the parent model as the tool's result. A model call
 * that declares its output cap holds its worst case before it reaches the model, and is refused
 * when that does not fit.
 */
import { AsyncResource } from 'node:async_hooks';
// First: LangChain's storage must be ours before '@langchain/core/context' initializes it.
import { rootedStorage } from './storage.js';
import { registerConfigureHook, setContextVariable } from '@langchain/core/context';
import { createLogger } from '../../log.js';
import type { AgentMeter } from '../../index.js';
import { countInstall } from '../shared/installs.js';
import { checkAdapterOptions } from '../shared/options.js';
import { AgentMeterCallbackHandler } from './handler.js';
import { LANGCHAIN_OPTION_TYPES, type LangChainInstrumentationOptions } from './options.js';

export type { LangChainInstrumentationOptions, LangChainModelCallInfo, LangChainRunInfo } from './options.js';

const logger = createLogger('langchain');

/** Each install gets its own context variable and handler name: LangChain keeps one handler per name. */
let installs = 0;

/**
 * Installs the adapter's callback handler for every LangChain run through LangChain's configure
 * hook (`@langchain/core/context`). Returns a function that stops the recording; runs already in
 * flight finish being recorded.
 *
 * LangChain keeps its hooks in an AsyncLocalStorage context. When this module was imported before
 * LangChain (as `agentmetry/register` does), the hook is seen by every run in the process;
 * otherwise only by runs started from the async context of this call and the contexts created from
 * it, so call it at start-up, before the app starts its server or its first run (see
 * docs/adapters/langchain.md). Throws a `TypeError` naming the option when an option is unknown
 * (such as `quota`, which belongs to the `AgentMeter`) or of the wrong type.
 */
export function instrumentLangChain(agentmeter: Pick<AgentMeter, 'run'>, options: LangChainInstrumentationOptions = {}): () => void {
  checkAdapterOptions('instrumentLangChain', agentmeter, options, LANGCHAIN_OPTION_TYPES);
  installs += 1;
  const contextVariable = `agentmetry_langchain_${installs}`;
  const handler = new AgentMeterCallbackHandler(agentmeter, options, `agentmetry-${installs}`);
  try {
    inEveryContext(() => {
      registerConfigureHook({ contextVar: contextVariable, inheritable: true });
      setContextVariable(contextVariable, handler);
    });
  } catch (error) {
    logger.error('installing the LangChain instrumentation failed', error);
    handler.disable();
    return () => {};
  }
  const uncount = countInstall('LangChain', logger);
  return () => {
    uncount();
    handler.disable();
    try {
      inEveryContext(() => setContextVariable(contextVariable, undefined));
    } catch (error) {
      logger.warn('removing the LangChain callback handler failed; it stays installed, disabled', error);
    }
  };
}

/**
 * Runs `change` (LangChain's `registerConfigureHook` or `setContextVariable`, which replace the
 * current context's store) on the process-wide root store when LangChain's storage has one, and in
 * the caller's context when that has a store of its own or LangChain's storage has no root.
 */
function inEveryContext(change: () => void): void {
  const storage = rootedStorage();
  if (storage === undefined) {
    change();
    return;
  }
  const own = storage.getStore() !== storage.root;
  // A scope of its own, so that the change leaves the caller's context as it is. Not
  // storage.run(root): AsyncLocalStorage skips entering a store equal to getStore()'s.
  storage.root = new AsyncResource('agentmetry.langchain.install').runInAsyncScope(() => {
    storage.enterWith(storage.root);
    change();
    return storage.getStore();
  });
  if (own) change();
}
