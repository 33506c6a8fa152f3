/**
 * `agentmetry`: subagent runs as `invoke_agent` spans and `subagent.*` metrics, with quotas
 * enforced before they start. Loads only `@opentelemetry/api`; SDK setup is `agentmetry/setup`,
 * quota stores are `agentmetry/quota-store` and `agentmetry/redis`, adapters have their own subpaths.
 */

/** Wraps subagent executions in spans and metrics, and enforces quotas. */
export { AgentMeter } from './run/agent-meter.js';
/** The innermost active run, or `undefined` outside any run. */
export { currentRun } from './run/context.js';
/** A quota denied or stopped a run; `QuotaStoreUnavailableError`: a shared store could not decide. */
export { QuotaExceededError, QuotaStoreUnavailableError } from './errors.js';
/** Every span, attribute, metric and event name the package emits. */
export * as semconv from './semconv.js';

export type {
  AgentMeterOptions,
  ParallelTask,
  QuotaLimits,
  QuotaMode,
  QuotaOptions,
  QuotaScopeBy,
  Run,
  RunFunction,
  RunSpec,
  ToolCall,
  Usage,
  UsageEstimate,
} from './types.js';
export type { QuotaExceededDetails } from './errors.js';
export type { QuotaLevelView, QuotaSnapshot, QuotaUsage, QuotaView, QuotaWindowUsage } from './quota/view.js';
export type { CalendarQuotaWindow, QuotaLevel, QuotaWindow, RollingQuotaWindow, WindowedLimits } from './quota/window-options.js';
export type { CalendarPeriod } from './quota/windows.js';
export type { ModelCall, ModelCallLimits } from './run/model-call.js';
export type { QuotaStore } from './quota/store.js';
export type { Totals } from './telemetry/series.js';
export type { MetricsFamily, Outcome, QuotaResource } from './semconv.js';
