import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { LLMResult } from '@langchain/core/outputs';
import { isQuotaRefusal } from '../../errors.js';
import { createLogger, safeCall } from '../../log.js';
import type { ModelCall, ModelCallLimits, Run, RunSpec } from '../../index.js';
import { declaredOutputCap, inputTokenBound, limitsOf } from './call-limits.js';
import { priceUsage } from '../shared/pricing.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import type { LangChainInstrumentationOptions, LangChainRunInfo } from './options.js';

const logger = createLogger('langchain');

/** The name LangGraph gives a compiled graph that was not named. */
const DEFAULT_GRAPH_NAME = 'LangGraph';

/** One graph run that is an agent run: recorded (`handle`) or not (topLevel off, or the core left it unrecorded). */
interface AgentRun {
  handle: RunHandle | undefined;
}

/** A LangChain run (chain, tool or model call) in progress, and the agent run it belongs to. */
interface Entry {
  readonly kind: 'chain' | 'tool' | 'model';
  readonly name: string | undefined;
  /** The innermost agent run at or above this run; `undefined` outside any graph run. */
  readonly owner: AgentRun | undefined;
  /** For a graph run that is an agent run: that run. */
  readonly agent: AgentRun | undefined;
  /** For a model call: the model's name, from the run's `ls_model_name` metadata. */
  readonly model: string | undefined;
  /** For a tool call: when it started (`performance.now()`). */
  readonly started?: number;
  /** For a model call: its worst case, held until the call ends (`run.reserveCall`). */
  held?: ModelCall;
}

/**
 * The callback handler behind `instrumentLangChain`.
 *
 * A graph run (a `createAgent` agent or any compiled LangGraph graph, `Pregel` in its serialized
 * id) is an agent run. It nests under the agent run that contains it: the run of the agent whose
 * tool started it, or of the graph that runs it as a node. Turns are the model calls inside it
 * (nested agent runs excluded), tokens their `usage_metadata`.
 *
 * Admission happens in `handleChainStart`, which LangChain awaits (`awaitHandlers`) and whose
 * error it raises into the run (`raiseError`): a quota refusal makes the graph's `invoke` throw
 * before its first node, so its model is never called; a tool that started it hands the error
 * to the parent model as the tool's result. A model call is held the same way in
 * `handleChatModelStart`/`handleLLMStart`: its worst case is reserved before the model is called
 * (`run.reserveCall`), and a call that does not fit fails with the refusal, which stops its run.
 * Every other callback logs its failures and never throws, so that raising is only ever a refusal.
 */
export class AgentMeterCallbackHandler extends BaseCallbackHandler {
  readonly name: string;
  readonly #meter: Meter;
  readonly #options: LangChainInstrumentationOptions;
  readonly #runs = new Map<string, Entry>();
  #active = true;

  constructor(meter: Meter, options: LangChainInstrumentationOptions, name: string) {
    super();
    this.name = name;
    this.#meter = meter;
    this.#options = options;
    this.raiseError = true;
    this.awaitHandlers = true;
  }

  /** Stops recording: LangChain has no way to remove a configure hook. Runs in flight are ended as they finish. */
  disable(): void {
    this.#active = false;
  }

  // LangChain calls this with the parent run's id in fourth place (its declared signature lists
  // runType there), and runType and runName after the metadata.
  override async handleChainStart(
    chain: Serialized,
    _inputs: unknown,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): Promise<void> {
    if (!this.#active) return;
    let agentInfo: LangChainRunInfo | undefined;
    let parent: Entry | undefined;
    try {
      parent = parentRunId === undefined ? undefined : this.#runs.get(parentRunId);
      if (isGraph(chain)) {
        agentInfo = {
          runName: runName ?? DEFAULT_GRAPH_NAME,
          toolName: parent?.kind === 'tool' ? parent.name : undefined,
          nodeName: parent?.kind === 'chain' && typeof metadata?.langgraph_node === 'string' ? metadata.langgraph_node : undefined,
        };
      }
      if (agentInfo === undefined) {
        this.#runs.set(runId, { kind: 'chain', name: runName, owner: parent?.owner, agent: undefined, model: undefined });
        return;
      }
    } catch (error) {
      logger.error('handleChainStart failed', error);
      return;
    }
    const agent: AgentRun = { handle: undefined };
    this.#runs.set(runId, { kind: 'chain', name: runName, owner: agent, agent, model: undefined });
    if (parent === undefined && this.#options.topLevel === false) return;
    // A refusal is thrown on: LangChain raises it into the graph run, which never starts.
    agent.handle = await this.#admit(agentInfo, parent?.owner?.handle).catch((refusal: unknown) => {
      this.#runs.delete(runId);
      throw refusal;
    });
  }

  override handleChainEnd(_outputs: unknown, runId: string): void {
    safeCall(logger, 'handleChainEnd', () => this.#end(runId, undefined));
  }

  override handleChainError(error: unknown, runId: string): void {
    safeCall(logger, 'handleChainError', () => this.#end(runId, error));
  }

  override handleToolStart(
    tool: Serialized,
    _input: string,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    _metadata?: Record<string, unknown>,
    runName?: string,
  ): void {
    if (!this.#active) return;
    safeCall(logger, 'handleToolStart', () => {
      const owner = parentRunId === undefined ? undefined : this.#runs.get(parentRunId)?.owner;
      this.#runs.set(runId, { kind: 'tool', name: runName ?? toolName(tool), owner, agent: undefined, model: undefined, started: performance.now() });
    });
  }

  override handleToolEnd(_output: unknown, runId: string): void {
    safeCall(logger, 'handleToolEnd', () => this.#toolEnded(runId, undefined));
  }

  override handleToolError(error: unknown, runId: string): void {
    safeCall(logger, 'handleToolError', () => this.#toolEnded(runId, isBubbleUp(error) ? undefined : error));
  }

  override async handleChatModelStart(
    _llm: Serialized,
    messages: unknown,
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
    await this.#modelStarted(runId, parentRunId, metadata, messages, extraParams);
  }

  override async handleLLMStart(
    _llm: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
    await this.#modelStarted(runId, parentRunId, metadata, prompts, extraParams);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    safeCall(logger, 'handleLLMEnd', () => {
      const entry = this.#runs.get(runId);
      this.#runs.delete(runId);
      const run = entry?.owner?.handle?.run;
      if (run === undefined) return;
      const { inputTokens, outputTokens } = usageOf(output);
      const costUsd = priceUsage(logger, this.#options.costUsd, { inputTokens, outputTokens, model: entry!.model });
      const usage = { inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd } : {}), ...(entry!.model ? { model: entry!.model } : {}) };
      // A held call records its usage as it gives back the rest of its worst case: counted once.
      if (entry!.held !== undefined) entry!.held.settle(usage);
      else run.recordUsage(usage);
    });
  }

  override handleLLMError(_error: unknown, runId: string): void {
    safeCall(logger, 'handleLLMError', () => {
      this.#runs.get(runId)?.held?.settle();
      this.#runs.delete(runId);
    });
  }

  /**
   * Counts a turn for the agent run the model call belongs to, then holds the call's worst case
   * when it is known (`run.reserveCall`). Throws when a quota (this turn past `maxTurnsPerRun`, or
   * a worst case that does not fit), a timeout or the caller has stopped that run: the model call
   * then fails with the reason before it reaches the model, and the run ends instead of running on.
   */
  async #modelStarted(
    runId: string,
    parentRunId: string | undefined,
    metadata: Record<string, unknown> | undefined,
    input: unknown,
    extraParams: Record<string, unknown> | undefined,
  ): Promise<void> {
    if (!this.#active) return;
    let stopped: { reason: unknown } | undefined;
    let hold: { run: Run; entry: Entry; limits: ModelCallLimits } | undefined;
    safeCall(logger, 'handleChatModelStart', () => {
      const owner = parentRunId === undefined ? undefined : this.#runs.get(parentRunId)?.owner;
      const model = typeof metadata?.ls_model_name === 'string' && metadata.ls_model_name !== '' ? metadata.ls_model_name : undefined;
      const entry: Entry = { kind: 'model', name: undefined, owner, agent: undefined, model };
      this.#runs.set(runId, entry);
      const run = owner?.handle?.run;
      if (run === undefined) return;
      // The turn past maxTurnsPerRun stops the run as it is recorded: that call is refused too.
      run.recordTurn();
      if (run.signal.aborted) {
        this.#runs.delete(runId);
        stopped = { reason: run.signal.reason };
        return;
      }
      const limits = this.#limitsOf(model, input, extraParams);
      if (limits !== undefined) hold = { run, entry, limits };
    });
    if (stopped !== undefined) throw stopped.reason;
    if (hold === undefined) return;
    try {
      hold.entry.held = await hold.run.reserveCall(hold.limits);
    } catch (error) {
      // A worst case that does not fit (the run is stopped with it), or a run stopped meanwhile.
      if (isQuotaRefusal(error) || hold.run.signal.aborted) {
        this.#runs.delete(runId);
        throw error;
      }
      logger.warn('holding the model call failed; its usage is charged after it', error);
    }
  }

  /** The worst case to hold for a model call, or `undefined` (charged after it). */
  #limitsOf(model: string | undefined, input: unknown, extraParams: Record<string, unknown> | undefined): ModelCallLimits | undefined {
    const params = extraParams?.invocation_params;
    const invocationParams = typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : undefined;
    const maxOutputTokens = declaredOutputCap(invocationParams);
    // Without a cap or a hook of the app's there is nothing to hold: the prompt is not serialized.
    if (maxOutputTokens === undefined && this.#options.callLimits === undefined) return undefined;
    const call = { model, input, invocationParams, maxOutputTokens, inputTokens: inputTokenBound(input, extraParams) };
    return limitsOf(logger, this.#options, call, Array.isArray(input) ? input.length : 1);
  }

  /**
   * Records a tool call on the agent run whose model asked for it. A tool that runs a subagent is
   * the calling run's tool call; the subagent's own tools are the subagent's. An interrupt or a
   * handoff to the parent graph thrown from a tool is no failure.
   */
  #toolEnded(runId: string, error: unknown): void {
    const entry = this.#runs.get(runId);
    this.#runs.delete(runId);
    const run = entry?.owner?.handle?.run;
    if (run === undefined || entry?.kind !== 'tool' || entry.started === undefined) return;
    const durationMs = performance.now() - entry.started;
    run.recordToolCall({ name: entry.name ?? 'unknown', durationMs, ...(error !== undefined ? { error } : {}), type: 'function' });
  }

  async #admit(info: LangChainRunInfo, parent: RunHandle | undefined): Promise<RunHandle | undefined> {
    const spec: RunSpec = {
      ...safeCall(logger, 'options.spec', () => this.#options.spec?.(info), 'warn'),
      name: safeCall(logger, 'options.name', () => this.#options.name?.(info), 'warn') ?? defaultName(info),
    };
    // The parent's context makes the new run its child; outside any recorded run, the caller's
    // context (the app's own agentmeter.run, if any) is the parent.
    return parent === undefined ? openRun(this.#meter, spec, logger) : parent.enter(() => openRun(this.#meter, spec, logger));
  }

  #end(runId: string, error: unknown): void {
    const entry = this.#runs.get(runId);
    this.#runs.delete(runId);
    const handle = entry?.agent?.handle;
    if (handle === undefined) return;
    if (error === undefined || isBubbleUp(error)) handle.end();
    else if (isAbortError(error)) handle.abort(error);
    else handle.end(error);
  }
}

/** A tool's name from its serialized form, when LangChain passes no run name. */
function toolName(tool: Serialized | undefined): string | undefined {
  const name = (tool as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && name !== '') return name;
  const last = Array.isArray(tool?.id) ? tool.id.at(-1) : undefined;
  return typeof last === 'string' && last !== '' ? last : undefined;
}

/** Whether a chain run is a compiled LangGraph graph (`createAgent` builds one). */
function isGraph(chain: Serialized | undefined): boolean {
  const id = chain?.id;
  return Array.isArray(id) && id[0] === 'langgraph' && id[1] === 'pregel';
}

function defaultName(info: LangChainRunInfo): string {
  if (info.runName !== DEFAULT_GRAPH_NAME) return info.runName;
  return info.toolName ?? info.nodeName ?? info.runName;
}

/** A model call's tokens: `usage_metadata` of its message, else the provider's legacy `llmOutput.tokenUsage`. */
function usageOf(output: LLMResult): { inputTokens: number; outputTokens: number } {
  let input = 0;
  let output_ = 0;
  let found = false;
  for (const generations of output.generations) {
    for (const generation of generations) {
      const usage = (generation as { message?: { usage_metadata?: { input_tokens?: unknown; output_tokens?: unknown } } }).message?.usage_metadata;
      if (usage === undefined) continue;
      found = true;
      input += count(usage.input_tokens);
      output_ += count(usage.output_tokens);
    }
  }
  if (found) return { inputTokens: input, outputTokens: output_ };
  const legacy = (output.llmOutput as { tokenUsage?: { promptTokens?: unknown; completionTokens?: unknown } } | undefined)?.tokenUsage;
  return { inputTokens: count(legacy?.promptTokens), outputTokens: count(legacy?.completionTokens) };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** LangGraph's control-flow errors (an interrupt, a handoff to the parent graph): the run paused or handed over, it did not fail. */
function isBubbleUp(error: unknown): boolean {
  return (error as { is_bubble_up?: unknown } | null | undefined)?.is_bubble_up === true;
}

/**
 * A cancellation: an `AbortError` or `TimeoutError` (a DOMException, which is not always an
 * `instanceof Error`), or the `Error('Abort')` that LangGraph's runner throws when its signal fires.
 */
function isAbortError(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return name === 'AbortError' || name === 'TimeoutError' || (name === 'Error' && message === 'Abort');
}
