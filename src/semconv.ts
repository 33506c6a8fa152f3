/**
 * Every span, attribute, metric and event name that agentmetry emits.
 *
 * Follows the OpenTelemetry GenAI semantic conventions (agent spans,
 * `invoke_agent` / `invoke_workflow`, Development stability, as of
 * semantic-conventions v1.41 and the semantic-conventions-genai repository,
 * 2026). The `gen_ai.invoke_agent.*` and `gen_ai.execute_tool.duration`
 * metrics, their units and bucket boundaries follow that repository's
 * `model/gen-ai/metrics.yaml` (agent and tool metrics, Development). Names
 * outside the `gen_ai.*` namespace (`subagent.*`, `quota.*`) are this
 * package's own: the conventions define no subagent or budget metrics.
 * No other file spells these names as literals.
 */

export const METER_NAME = 'agentmetry' as const;
export const TRACER_NAME = 'agentmetry' as const;

export const SPAN_INVOKE_AGENT = 'invoke_agent' as const;
export const SPAN_INVOKE_WORKFLOW_PARALLEL = 'invoke_workflow parallel' as const;

export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name' as const;
export const ATTR_GEN_AI_AGENT_NAME = 'gen_ai.agent.name' as const;
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id' as const;
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model' as const;
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens' as const;
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens' as const;
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type' as const;
export const ATTR_GEN_AI_WORKFLOW_NAME = 'gen_ai.workflow.name' as const;
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name' as const;
export const ATTR_GEN_AI_TOOL_TYPE = 'gen_ai.tool.type' as const;
export const ATTR_ERROR_TYPE = 'error.type' as const;

export const GEN_AI_OPERATION_INVOKE_AGENT = 'invoke_agent' as const;
export const GEN_AI_OPERATION_INVOKE_WORKFLOW = 'invoke_workflow' as const;
export const GEN_AI_TOKEN_TYPE_INPUT = 'input' as const;
export const GEN_AI_TOKEN_TYPE_OUTPUT = 'output' as const;

export const ATTR_SUBAGENT_DEPTH = 'subagent.depth' as const;
export const ATTR_SUBAGENT_TURNS = 'subagent.turns' as const;
export const ATTR_SUBAGENT_OUTCOME = 'subagent.outcome' as const;
export const ATTR_SUBAGENT_COST = 'subagent.cost_usd' as const;
export const ATTR_SUBAGENT_BATCH_SIZE = 'subagent.batch.size' as const;
export const ATTR_SUBAGENT_BATCH_OUTCOME = 'subagent.batch.outcome' as const;

export const ATTR_QUOTA_RESOURCE = 'quota.resource' as const;
export const ATTR_QUOTA_SCOPE = 'quota.scope' as const;
/** The quota level of a scope; only on quotas with `levels`. */
export const ATTR_QUOTA_LEVEL = 'quota.level' as const;
/** The window of a limit (`day`, `rolling:1h`); absent on limits that never reset. */
export const ATTR_QUOTA_WINDOW = 'quota.window' as const;
export const ATTR_QUOTA_THRESHOLD = 'quota.threshold' as const;
export const ATTR_QUOTA_MODE = 'quota.mode' as const;
export const ATTR_QUOTA_LIMIT = 'quota.limit' as const;
export const ATTR_QUOTA_USED = 'quota.used' as const;
export const ATTR_QUOTA_REQUESTED = 'quota.requested' as const;
export const EVENT_QUOTA_WARNING = 'quota.warning' as const;
export const EVENT_QUOTA_DENIED = 'quota.denied' as const;

export const METRIC_EXECUTIONS = 'subagent.executions' as const;
export const METRIC_DURATION = 'subagent.duration' as const;
export const METRIC_TURNS = 'subagent.turns' as const;
export const METRIC_TOKENS = 'subagent.tokens' as const;
export const METRIC_ACTIVE = 'subagent.active' as const;
export const METRIC_ERRORS = 'subagent.errors' as const;
export const METRIC_COST = 'subagent.cost' as const;
export const METRIC_TOOL_DURATION = 'subagent.tool.duration' as const;

/** The GenAI conventions' agent metrics (`metrics: 'gen_ai'` or `'both'`). */
export const METRIC_GEN_AI_INVOKE_AGENT_DURATION = 'gen_ai.invoke_agent.duration' as const;
export const METRIC_GEN_AI_INVOKE_AGENT_INFERENCE_CALLS = 'gen_ai.invoke_agent.inference_calls' as const;
export const METRIC_GEN_AI_INVOKE_AGENT_TOOL_CALLS = 'gen_ai.invoke_agent.tool_calls' as const;
export const METRIC_GEN_AI_EXECUTE_TOOL_DURATION = 'gen_ai.execute_tool.duration' as const;

/**
 * Which metric families an AgentMeter records: its own `subagent.*` run instruments (what the
 * bundled dashboards read), the GenAI conventions' `gen_ai.*` agent metrics, or both.
 */
export const METRICS_FAMILIES = ['subagent', 'gen_ai', 'both'] as const;
export type MetricsFamily = (typeof METRICS_FAMILIES)[number];
/** The conventions' opt-in variable (a comma-separated list) and the value that turns on their latest experimental version. */
export const ENV_SEMCONV_STABILITY_OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN' as const;
export const SEMCONV_OPT_IN_GEN_AI_LATEST = 'gen_ai_latest_experimental' as const;
export const METRIC_QUOTA_LIMIT = 'subagent.quota.limit' as const;
export const METRIC_QUOTA_USED = 'subagent.quota.used' as const;
export const METRIC_QUOTA_RESERVED = 'subagent.quota.reserved' as const;
/** Seconds until a quota limit is projected to run out at its recent burn rate; -1 when it is not. */
export const METRIC_QUOTA_EXHAUSTION = 'subagent.quota.exhaustion' as const;
export const METRIC_QUOTA_DENIALS = 'subagent.quota.denials' as const;
export const METRIC_QUOTA_WARNINGS = 'subagent.quota.warnings' as const;
export const METRIC_QUOTA_UNACCOUNTED = 'subagent.quota.unaccounted' as const;

/** `subagent.outcome` values. */
export const OUTCOMES = ['ok', 'incomplete', 'error', 'timeout', 'aborted', 'denied'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `error.type` values this package sets itself (other errors use the thrown error's name). */
export const ERROR_TYPE_TIMEOUT = 'timeout' as const;
export const ERROR_TYPE_ABORTED = 'aborted' as const;
export const ERROR_TYPE_QUOTA_EXCEEDED = 'quota_exceeded' as const;
/**
 * Longest agent name put on a span or a metric, in UTF-16 code units. A longer name is cut to
 * its first characters, `…` and 8 hex digits of the SHA-256 of the whole name: stable, and two long
 * names that differ only past the cut stay distinct.
 */
export const MAX_AGENT_NAME_LENGTH = 128;
/** Longest `error.type` taken from a thrown error's `name`; a longer one reports as `_OTHER`. */
export const MAX_ERROR_TYPE_LENGTH = 64;
/** The value that stands for every further value of a capped attribute (agent names, error types). */
export const OTHER = '_OTHER' as const;

/** Quota resource names, used in errors, snapshots and the `quota.resource` attribute. */
export const QUOTA_RESOURCES = ['executions', 'tokens', 'costUsd', 'wallTimeMs', 'concurrent', 'depth', 'turns', 'duration'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** Histogram bucket boundaries, in the instrument's unit. */
export const DURATION_BUCKETS_S = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6, 819.2];
export const TURN_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
/** Tool calls are often sub-second: the GenAI conventions' operation-duration boundaries, 10 ms to 81.92 s. */
export const TOOL_DURATION_BUCKETS_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** `gen_ai.invoke_agent.duration`: 0.1 s to 409.6 s doubling, as the conventions advise. */
export const GEN_AI_INVOKE_AGENT_DURATION_BUCKETS_S = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6];
/** `gen_ai.invoke_agent.inference_calls` and `.tool_calls`: 1 to 128 doubling, as the conventions advise. */
export const GEN_AI_CALL_COUNT_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
/** `gen_ai.execute_tool.duration`: 0.01 s to 81.92 s doubling, as the conventions advise (the same as `subagent.tool.duration`). */
export const GEN_AI_EXECUTE_TOOL_DURATION_BUCKETS_S = TOOL_DURATION_BUCKETS_S;
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
