export { AgentMeter } from './telemetry/agent-meter.js';
export { currentRun } from './telemetry/run-context.js';
export { startTelemetry } from './setup/start-telemetry.js';
export { QuotaExceededError, QuotaStoreUnavailableError } from './errors.js';
export { MemoryQuotaStore } from './quota/memory-store.js';
export { QuotaProcessor } from './quota/processor.js';
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
  Usage,
  UsageEstimate,
} from './types.js';
export type { QuotaExceededDetails } from './errors.js';
export type { QuotaSnapshot, QuotaUsage } from './quota/processor.js';
export type {
  BudgetNode,
  ChargeResult,
  LedgerAmounts,
  LedgerLimits,
  LedgerState,
  LedgerUsage,
  LedgerViolation,
  QuotaLease,
  QuotaStore,
  ReserveRequest,
  ReserveResult,
} from './quota/store.js';
export type { Outcome, QuotaResource } from './semconv.js';
export type { Telemetry, TelemetryOptions } from './setup/start-telemetry.js';
