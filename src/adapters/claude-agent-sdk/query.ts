import { AsyncResource } from 'node:async_hooks';
import { createLogger, safeCall } from '../../log.js';
import type { RunSpec } from '../../index.js';
import { openRun, type Meter, type RunHandle } from '../shared/run-handle.js';
import type { ClaudeAgentSdkInstrumentationOptions, ClaudeAgentSdkRunInfo } from './options.js';
import { SubagentTracker, abortError, readUsage, type HookMatcher, type MessageLike } from './tracker.js';

const logger = createLogger('claude-agent-sdk');
const DEFAULT_QUERY_NAME = 'claude-agent';

/** The parameters of the SDK's `query()`, loosely: only the options read or added here. */
export interface QueryParams {
  prompt: unknown;
  options?: {
    hooks?: Partial<Record<string, HookMatcher[]>>;
    forwardSubagentText?: boolean;
    model?: string;
    [option: string]: unknown;
  };
}
/** The SDK's `Query`, loosely: an async generator of messages with control methods. */
export type QueryLike = AsyncGenerator<unknown, void> & {
  interrupt(): Promise<unknown>;
  stopTask(taskId: string): Promise<void>;
};
export type QueryFunction = (params: QueryParams) => QueryLike;

interface ResultLike {
  type: 'result';
  subtype?: string;
  is_error?: boolean;
  total_cost_usd?: unknown;
  modelUsage?: Record<string, { inputTokens?: unknown; outputTokens?: unknown; cacheReadInputTokens?: unknown; cacheCreationInputTokens?: unknown }>;
}

/**
 * `original` with every query recorded: the query as a run (`topLevel`) and each of its
 * subagents as a nested run. Calls after `isActive()` turns false go to `original` untouched.
 */
export function wrapQuery(original: QueryFunction, meter: Meter, options: ClaudeAgentSdkInstrumentationOptions, isActive: () => boolean): QueryFunction {
  return (params) => {
    if (!isActive()) return original(params);
    try {
      return new InstrumentedQuery(original, params, meter, options, isActive).proxy;
    } catch (error) {
      logger.error('instrumenting a query failed; it runs unrecorded', error);
      return original(params);
    }
  };
}

/**
 * One query: admits its run, then starts the SDK's query inside it (the CLI inherits the run's
 * trace context as `TRACEPARENT`), with the adapter's hooks appended to the app's and
 * `forwardSubagentText` on, so that each subagent response is a turn. The app iterates the same
 * messages it would without the adapter; subagent text it did not ask for is left out.
 */
class InstrumentedQuery {
  readonly proxy: QueryLike;
  readonly #tracker: SubagentTracker;
  readonly #started: Promise<QueryLike>;
  readonly #appForwardsText: boolean;
  #handle: RunHandle | undefined;
  #result: ResultLike | undefined;
  /** The SDK's `total_cost_usd` already recorded on the query's run. */
  #sdkCostUsd = 0;
  #interrupted = false;
  #ended = false;
  readonly #turns = new Set<string>();
  readonly #options: ClaudeAgentSdkInstrumentationOptions;

  constructor(original: QueryFunction, params: QueryParams, meter: Meter, options: ClaudeAgentSdkInstrumentationOptions, isActive: () => boolean) {
    this.#options = options;
    const appOptions = params.options ?? {};
    this.#appForwardsText = appOptions.forwardSubagentText === true;
    const caller = new AsyncResource('claude-agent-sdk.query');
    const enterRoot = <T>(fn: () => T): T => (this.#handle !== undefined ? this.#handle.enter(fn) : caller.runInAsyncScope(fn));
    const tracker = new SubagentTracker(meter, options, { observing: true, enterRoot, isActive });
    this.#tracker = tracker;
    const hooks: Partial<Record<string, HookMatcher[]>> = { ...appOptions.hooks };
    for (const [event, matchers] of Object.entries(tracker.hooks()) as Array<[string, HookMatcher[]]>) hooks[event] = [...(hooks[event] ?? []), ...matchers];
    const sdkParams: QueryParams = { ...params, options: { ...appOptions, hooks, forwardSubagentText: true } };

    this.#started = (async () => {
      if (options.topLevel !== false) {
        const model = typeof appOptions.model === 'string' && appOptions.model !== '' ? appOptions.model : undefined;
        const info: ClaudeAgentSdkRunInfo = { subagentType: undefined, toolUseId: undefined, parentAgentId: undefined, background: false, model };
        const spec: RunSpec = {
          ...safeCall(logger, 'options.spec', () => options.spec?.(info), 'warn'),
          name: safeCall(logger, 'options.name', () => options.name?.(info), 'warn') ?? DEFAULT_QUERY_NAME,
        };
        if (model !== undefined && spec.model === undefined) spec.model = model;
        // A refusal rejects: the app's first `next()` throws it, and the CLI never starts.
        this.#handle = await caller.runInAsyncScope(() => openRun(meter, spec, logger));
      }
      const query = enterRoot(() => original(sdkParams));
      tracker.setControls(query);
      // A quota that stops the query (turns, tokens, cost, duration) interrupts it; it still ends with a result.
      this.#handle?.run.signal.addEventListener(
        'abort',
        () => void query.interrupt().then(undefined, (error: unknown) => logger.warn('interrupting the query failed', error)),
        {
          once: true,
        },
      );
      return query;
    })();
    // Whoever awaits it sees the refusal; this keeps it from being an unhandled rejection meanwhile.
    this.#started.then(undefined, () => {});

    const next = async (): Promise<IteratorResult<unknown, void>> => {
      const query = await this.#started;
      for (;;) {
        let step: IteratorResult<unknown, void>;
        try {
          step = await query.next();
        } catch (error) {
          this.#end(error);
          throw error;
        }
        if (step.done === true) {
          this.#end(undefined);
          return step;
        }
        this.#observe(step.value as MessageLike);
        if (this.#visible(step.value as MessageLike)) return step;
      }
    };
    const close = async (method: 'return' | 'throw', value: unknown): Promise<IteratorResult<unknown, void>> => {
      let query: QueryLike;
      try {
        query = await this.#started;
      } catch {
        // Refused: there is no query to close.
        if (method === 'throw') throw value;
        return { done: true, value: undefined };
      }
      try {
        return method === 'return' ? await query.return(undefined) : await query.throw(value);
      } finally {
        this.#end(method === 'throw' ? value : undefined);
      }
    };
    const target = {
      next,
      return: (value?: unknown) => close('return', value),
      throw: (error?: unknown) => close('throw', error),
      [Symbol.asyncIterator]() {
        return proxy;
      },
    };
    const proxy = new Proxy(target, {
      get: (object, property, receiver) => {
        if (Reflect.has(object, property)) return Reflect.get(object, property, receiver) as unknown;
        // Not a thenable (an async function returning the query must not await it), and no symbol besides iteration.
        if (typeof property !== 'string' || property === 'then') return undefined;
        // The query's control methods (interrupt, stopTask, setModel, …), once it has started.
        return async (...args: unknown[]) => {
          const query = (await this.#started) as unknown as Record<PropertyKey, unknown>;
          if (property === 'interrupt') this.#interrupted = true;
          const method = query[property];
          if (typeof method !== 'function') throw new TypeError(`Query.${property} is not a function`);
          return (method as (...parameters: unknown[]) => unknown).apply(query, args);
        };
      },
    }) as unknown as QueryLike;
    this.proxy = proxy;
  }

  #observe(message: MessageLike): void {
    this.#tracker.observe(message);
    if (this.#handle === undefined) return;
    try {
      if (message.type === 'assistant' && message.parent_tool_use_id === null) this.#mainTurn(message);
      else if (message.type === 'result') this.#resulted(message as unknown as ResultLike);
    } catch (error) {
      logger.error('reading a Claude Agent SDK message failed', error);
    }
  }

  /** A response of the main thread: a turn of the query's run, and its input tokens. */
  #mainTurn(message: MessageLike): void {
    const id = message.message?.id;
    if (typeof id !== 'string' || this.#turns.has(id)) return;
    this.#turns.add(id);
    this.#handle!.run.recordTurn();
    const usage = readUsage(message.message?.usage, typeof message.message?.model === 'string' ? message.message.model : undefined);
    if (usage !== undefined) this.#tracker.record(this.#handle!, { ...usage, outputTokens: 0 });
  }

  /**
   * The result reports the query's usage per model, subagents included: what no run recorded yet
   * (output tokens of responses that were still streaming, anything the stream did not show) is
   * the query's own. Without `costUsd`, the query's cost is the SDK's `total_cost_usd`. Both are
   * totals so far: each result adds what the previous ones did not.
   */
  #resulted(result: ResultLike): void {
    this.#result = result;
    const handle = this.#handle!;
    for (const [model, usage] of Object.entries(result.modelUsage ?? {})) {
      const total = readUsage(
        {
          input_tokens: usage.inputTokens,
          output_tokens: usage.outputTokens,
          cache_read_input_tokens: usage.cacheReadInputTokens,
          cache_creation_input_tokens: usage.cacheCreationInputTokens,
        },
        model,
      )!;
      const recorded = this.#tracker.recorded.get(model) ?? { input: 0, output: 0 };
      const input = Math.max(0, total.inputTokens - recorded.input);
      const output = Math.max(0, total.outputTokens - recorded.output);
      if (input > 0 || output > 0)
        this.#tracker.record(handle, { ...total, inputTokens: input, outputTokens: output, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 });
    }
    // A session fed messages one by one has a result per prompt, each with the totals so far.
    const cost = result.total_cost_usd;
    if (this.#options.costUsd === undefined && typeof cost === 'number' && Number.isFinite(cost) && cost > this.#sdkCostUsd) {
      handle.run.recordUsage({ costUsd: cost - this.#sdkCostUsd });
      this.#sdkCostUsd = cost;
    }
  }

  /** Subagent text and thinking that the app did not ask for (`forwardSubagentText`) stays hidden. */
  #visible(message: MessageLike): boolean {
    if (this.#appForwardsText || message.type !== 'assistant' || typeof message.parent_tool_use_id !== 'string') return true;
    const content = message.message?.content;
    return (
      Array.isArray(content) &&
      (content as Array<{ type?: unknown } | null>).some((block) => block?.type !== 'text' && block?.type !== 'thinking' && block?.type !== 'redacted_thinking')
    );
  }

  /** The query is over: open subagents end, then its run, from the result's outcome. */
  #end(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    const interrupted = this.#interrupted && this.#handle?.run.signal.aborted !== true;
    this.#tracker.finish(abortError('the query ended before the subagent did'));
    const handle = this.#handle;
    if (handle === undefined) return;
    const result = this.#result;
    if (error !== undefined) {
      if (interrupted) handle.abort(error);
      else handle.end(error);
    } else if (result === undefined) {
      handle.abort(abortError('the query was closed before its result'));
    } else if (interrupted) {
      handle.abort(abortError('the query was interrupted'));
    } else if (result.subtype === 'success' && result.is_error !== true) {
      handle.end();
    } else {
      const failure = new Error(`the query ended with ${result.subtype ?? 'an error'}`);
      failure.name = typeof result.subtype === 'string' && result.subtype !== '' ? result.subtype : 'ClaudeAgentSdkError';
      handle.end(failure);
    }
  }
}
