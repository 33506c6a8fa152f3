import type { Attributes, MeterProvider, Span, TracerProvider } from '@opentelemetry/api';
import type { QuotaLevel, QuotaWindow } from './quota/window-options.js';
import type { QuotaStore } from './quota/store.js';
import type { ModelCall, ModelCallLimits } from './run/model-call.js';
import type { MetricsFamily } from './semconv.js';

/** Token and cost usage reported by a run, cumulative over calls to `recordUsage`. */
export interface Usage {
  /** Input (prompt) tokens. A non-negative integer. */
  inputTokens?: number;
  /** Output (completion) tokens. A non-negative integer. */
  outputTokens?: number;
  /** Cost in US dollars, when known. Non-negative and finite. */
  costUsd?: number;
  /** The model that produced the usage; becomes `gen_ai.request.model` on the span (the first one given). */
  model?: string;
}

/** One tool call a run made, reported with `run.recordToolCall`. */
export interface ToolCall {
  /** The tool's name: `gen_ai.tool.name`, cut like agent names. Required, a non-empty string. */
  name: string;
  /** How long the call took, in milliseconds. Required, finite and non-negative. */
  durationMs: number;
  /**
   * What the tool failed with, if it failed: its `error.type` is derived like a run's (the thrown
   * value's `name`, else `_OTHER`). Absent or `undefined`: the call succeeded.
   */
  error?: unknown;
  /** `gen_ai.tool.type` (`function`, `extension`, `datastore`); optional, a non-empty string. */
  type?: string;
}

/** Limits of a quota scope or of a run budget. Every field is optional; an absent field means no limit. */
export interface QuotaLimits {
  /** Admitted runs (in flight plus finished). Integer. */
  maxExecutions?: number;
  /** Input plus output tokens. Integer. */
  maxTokens?: number;
  /** Cost in USD (accounted in integer nano-dollars). */
  maxCostUsd?: number;
  /** Milliseconds since the scope's first admission; running runs are aborted at the deadline. */
  maxWallTimeMs?: number;
  /** Runs in flight at once. Integer. */
  maxConcurrent?: number;
  /** Deepest nesting admitted (0 = top-level runs only). Integer. */
  maxDepth?: number;
  /** Turns per run; the turn past it ends that run with outcome `incomplete`. Integer. */
  maxTurnsPerRun?: number;
  /** Wall time per run in milliseconds; the run is aborted (outcome `incomplete`) when it passes. */
  maxDurationMsPerRun?: number;
}

/** What a run expects to consume, reserved before it starts and settled to the actual at its end. */
export interface UsageEstimate {
  /** Tokens to reserve (input plus output). Default 0. */
  tokens?: number;
  /** USD to reserve. Default 0. */
  costUsd?: number;
}

export type QuotaMode = 'enforce' | 'observe';
export type QuotaScopeBy = 'global' | 'conversation' | ((spec: RunSpec) => string);

export interface QuotaOptions {
  /** Hard limits of each scope that never reset. Default: none. */
  limits?: QuotaLimits;
  /**
   * Limits of each scope that reset: per calendar period (`{ per: 'day', maxTokens: 1_000_000 }`)
   * or over a rolling window (`{ rollingMs: 3_600_000, maxExecutions: 50 }`); several at once.
   * Default: none.
   */
  windows?: QuotaWindow[];
  /**
   * How runs are grouped into budgets: `'global'` (one budget, the default), `'conversation'`
   * (one per `conversationId`; runs without one fall in `global`), or a function of the run spec.
   * Nested runs always share their root run's scope.
   */
  scopeBy?: QuotaScopeBy;
  /**
   * How long a scope with nothing in flight is kept when it has limits that never reset, in ms.
   * Past it the scope is forgotten: a run in it later starts from zero. A scope whose limits all
   * have windows is forgotten once its windows have closed, and one without limits (only
   * `maxConcurrent`) once nothing is in flight, whatever this says. Default: undefined (kept for
   * the life of the process).
   */
  idleTtlMs?: number;
  /**
   * Layered budgets: each run is checked against one scope of every level at once, outermost
   * first (e.g. the app, its tenant, its conversation). Replaces `limits`, `windows`, `scopeBy`
   * and `idleTtlMs`, which each level has for itself. Default: one level from those options.
   */
  levels?: QuotaLevel[];
  /** Soft thresholds as fractions of each limit, in (0, 1]; each fires once per scope and resource. Default `[]`. */
  warnAt?: number[];
  /** `'enforce'` (default) denies; `'observe'` admits everything and counts would-be denials. */
  mode?: QuotaMode;
  /** Where the accounting lives. Default: an in-process store. See `agentmetry/redis` for a shared one. */
  store?: QuotaStore;
  /**
   * Scopes besides `global` reported with their own `quota.scope` attribute, per level: the first
   * ones reported, which keep their slot for the life of the quota (even once forgotten); the
   * rest are summed under `other`. Default 0: scope keys (conversation, user or tenant ids from
   * `scopeBy`) stay out of metrics unless you set it.
   */
  maxReportedScopes?: number;
}

export interface AgentMeterOptions {
  /** Default: the global meter provider, looked up on every run so that a provider registered later is used. */
  meterProvider?: MeterProvider;
  /** Default: the global tracer provider. */
  tracerProvider?: TracerProvider;
  /**
   * Throw a `TypeError` naming an invalid usage or tool-call field (or turn count) instead of
   * dropping it with a diag warning. The valid fields of the same `recordUsage` or
   * `recordToolCall` call are recorded first either way.
   * Default `false`.
   */
  strict?: boolean;
  /** Distinct agent names kept as metric attributes; further names are reported as `_OTHER`. Default 200. */
  maxAgentNames?: number;
  /**
   * The run metrics recorded: `'subagent'` (the `subagent.*` instruments the bundled dashboards
   * read), `'gen_ai'` (the OpenTelemetry GenAI conventions' `gen_ai.invoke_agent.*` and
   * `gen_ai.execute_tool.duration`, Development stability, instead) or `'both'`. The quota
   * instruments are recorded either way. Default: `'both'` when the environment variable
   * `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list) contains
   * `gen_ai_latest_experimental`, else `'subagent'`.
   */
  metrics?: MetricsFamily;
  /** Quotas; none by default. */
  quota?: QuotaOptions;
}

export interface RunSpec {
  /**
   * The agent's name: `gen_ai.agent.name` and the span name `invoke_agent {name}`, cut to
   * `MAX_AGENT_NAME_LENGTH` (128) characters on spans and metrics. Required.
   */
  name: string;
  /** `gen_ai.conversation.id` on the span (never a metric attribute); inherited by nested runs. */
  conversationId?: string;
  /** The model configured for the agent: `gen_ai.request.model`. */
  model?: string;
  /**
   * The caller's signal; when it fires, `run.signal` aborts and the outcome is `aborted`. A run
   * whose signal has already fired is not admitted: `fn` never runs and nothing is reserved.
   */
  signal?: AbortSignal;
  /** Aborts `run.signal` after this many milliseconds; the outcome is then `timeout`. */
  timeoutMs?: number;
  /** Usage to reserve against quotas before the run starts. */
  estimate?: UsageEstimate;
  /** A budget for this run and everything nested in it, inside its parent's remaining budget; validated with or without a quota. */
  budget?: QuotaLimits;
  /** Extra span attributes (never metric attributes). */
  attributes?: Attributes;
}

/** The handle a run's function receives; also returned by `currentRun()`. */
export interface Run {
  readonly name: string;
  /** 0 for a run with no instrumented ancestor, +1 per level. */
  readonly depth: number;
  readonly conversationId: string | undefined;
  /** The quota scope this run is accounted in (`undefined` without quotas). */
  readonly scope: string | undefined;
  readonly parent: Run | undefined;
  /** The run's `invoke_agent` span. */
  readonly span: Span;
  /** Aborted on timeout, on the caller's abort, or when a quota stops the run (the reason says which). */
  readonly signal: AbortSignal;
  readonly turns: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  /** Tool calls recorded on this run (not those of runs nested in it). */
  readonly toolCalls: number;
  /** Records `count` model turns (default 1). */
  recordTurn(count?: number): void;
  /** Adds token and cost usage. Each field is checked on its own: an invalid one is dropped (or throws with `strict`), the others recorded. */
  recordUsage(usage: Usage): void;
  /**
   * Holds a model call's worst case (its input tokens, its output cap and, optionally, its
   * maximum cost) against every quota of the run before the call is made; `settle` the returned
   * call with what it used. Rejects with the `QuotaExceededError` that refuses the call (the run
   * is stopped too), so the model is never called over budget. With every call declared this
   * way, tokens and cost never pass their limits; usage recorded without it is charged afterwards.
   */
  reserveCall(limits: ModelCallLimits): Promise<ModelCall>;
  /**
   * Records one tool call this run made (a subagent invoked as a tool is a tool call of its
   * parent; the subagent's own calls are its own). Checked field by field like `recordUsage`: a
   * call without a valid `name` or `durationMs` is dropped, an invalid `type` is dropped alone
   * (`strict` throws once the rest is recorded). A call recorded after the run ended is still
   * recorded in the tool-duration histogram and in `toolCalls`; the run's own end-of-run
   * histograms have already been recorded and do not change.
   */
  recordToolCall(call: ToolCall): void;
}

export type RunFunction<T> = (run: Run) => T | PromiseLike<T>;

export interface ParallelTask<T> {
  /** The subagent's name (or a full run spec). */
  subagent: string | RunSpec;
  fn: RunFunction<T>;
}
