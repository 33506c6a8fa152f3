import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_SUBAGENT_DEPTH,
  ATTR_SUBAGENT_OUTCOME,
  GEN_AI_TOKEN_TYPE_INPUT,
  GEN_AI_TOKEN_TYPE_OUTPUT,
  OTHER,
  OUTCOMES,
  type Outcome,
} from '../semconv.js';
import { nanosToUsd } from '../money.js';

const OUTCOME_INDEX: Record<Outcome, number> = Object.fromEntries(OUTCOMES.map((outcome, index) => [outcome, index])) as Record<Outcome, number>;

/** Error types kept per series (and per tool) before further ones are reported as `_OTHER`. */
const MAX_ERROR_TYPES_PER_SERIES = 32;
/** Tool names kept per series before further ones are reported as `_OTHER`. */
const MAX_TOOL_NAMES_PER_SERIES = 64;
/** Models (`gen_ai.request.model` on the GenAI metrics) and tool types kept per series, per tool, before `_OTHER`. */
const MAX_MODELS_PER_SERIES = 16;
const MAX_TOOL_TYPES_PER_TOOL = 8;

export interface ErrorCount {
  readonly attributes: Attributes;
  count: number;
}

/**
 * The live totals of one (agent, depth) series: what the observable instruments export and
 * what quota snapshots are compared against. Attribute sets are built once, so recording
 * allocates nothing.
 */
export class SeriesStats {
  readonly attributes: Attributes;
  readonly inputTokenAttributes: Attributes;
  readonly outputTokenAttributes: Attributes;
  readonly outcomeAttributes: readonly Attributes[];
  readonly executions: number[] = OUTCOMES.map(() => 0);
  readonly errors = new Map<string, ErrorCount>();
  readonly #tools = new Map<string, ToolSeries>();
  /** The GenAI agent metrics' attribute sets, by model: `gen_ai.agent.name` (no depth), the model, `error.type`. */
  readonly #genAiByModel = new Map<string | undefined, ErrorVariants>();
  active = 0;
  inputTokens = 0;
  outputTokens = 0;
  costNanos = 0;
  costKnown = false;

  constructor(
    readonly agent: string,
    readonly depth: number,
  ) {
    this.attributes = { [ATTR_GEN_AI_AGENT_NAME]: agent, [ATTR_SUBAGENT_DEPTH]: depth };
    this.inputTokenAttributes = { ...this.attributes, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_INPUT };
    this.outputTokenAttributes = { ...this.attributes, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_OUTPUT };
    this.outcomeAttributes = OUTCOMES.map((outcome) => ({ ...this.attributes, [ATTR_SUBAGENT_OUTCOME]: outcome }));
  }

  attributesFor(outcome: Outcome): Attributes {
    return this.outcomeAttributes[OUTCOME_INDEX[outcome]]!;
  }

  countExecution(outcome: Outcome): void {
    this.executions[OUTCOME_INDEX[outcome]]! += 1;
  }

  /** The attribute sets of one tool's calls in this series; past 64 tool names, `_OTHER`'s. */
  tool(name: string): ToolSeries {
    let tool = this.#tools.get(name);
    if (tool === undefined) {
      if (this.#tools.size >= MAX_TOOL_NAMES_PER_SERIES && name !== OTHER) return this.tool(OTHER);
      tool = new ToolSeries(this.agent, this.attributes, name);
      this.#tools.set(name, tool);
    }
    return tool;
  }

  /** The attributes of the `gen_ai.invoke_agent.*` metrics of a run of this series. */
  genAiAttributes(model: string | undefined, errorType: string | undefined): Attributes {
    let variants = this.#genAiByModel.get(model);
    if (variants === undefined) {
      if (model !== undefined && model !== OTHER && this.#genAiByModel.size >= MAX_MODELS_PER_SERIES) return this.genAiAttributes(OTHER, errorType);
      const attributes: Attributes = { [ATTR_GEN_AI_AGENT_NAME]: this.agent };
      if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
      variants = new ErrorVariants(attributes);
      this.#genAiByModel.set(model, variants);
    }
    return variants.get(errorType);
  }

  countError(errorType: string): void {
    let entry = this.errors.get(errorType);
    if (entry === undefined) {
      if (this.errors.size >= MAX_ERROR_TYPES_PER_SERIES && errorType !== OTHER) {
        this.countError(OTHER);
        return;
      }
      entry = { attributes: { ...this.attributes, [ATTR_ERROR_TYPE]: errorType }, count: 0 };
      this.errors.set(errorType, entry);
    }
    entry.count += 1;
  }
}

/** An attribute set and its copies with `error.type`, each built once (past 32 error types, `_OTHER`). */
class ErrorVariants {
  readonly #failed = new Map<string, Attributes>();

  constructor(readonly attributes: Attributes) {}

  /** The set for a success (`undefined`) or a failure with `errorType`. */
  get(errorType: string | undefined): Attributes {
    if (errorType === undefined) return this.attributes;
    let attributes = this.#failed.get(errorType);
    if (attributes === undefined) {
      if (this.#failed.size >= MAX_ERROR_TYPES_PER_SERIES && errorType !== OTHER) return this.get(OTHER);
      attributes = { ...this.attributes, [ATTR_ERROR_TYPE]: errorType };
      this.#failed.set(errorType, attributes);
    }
    return attributes;
  }
}

/**
 * The attribute sets of one tool's calls in one (agent, depth) series, built on first use and
 * reused, so recording a call allocates nothing once its tool, type and error type have been seen.
 */
export class ToolSeries {
  /** `subagent.tool.duration`: agent, depth, tool (and `error.type`). */
  readonly #subagent: ErrorVariants;
  /** `gen_ai.execute_tool.duration`, by tool type: agent, tool, `gen_ai.tool.type` (and `error.type`); no depth. */
  readonly #genAiByType = new Map<string | undefined, ErrorVariants>();

  constructor(
    readonly agent: string,
    seriesAttributes: Attributes,
    readonly name: string,
  ) {
    this.#subagent = new ErrorVariants({ ...seriesAttributes, [ATTR_GEN_AI_TOOL_NAME]: name });
  }

  /** A call that succeeded. */
  get attributes(): Attributes {
    return this.#subagent.attributes;
  }

  /** `subagent.tool.duration` of a call that failed with `errorType`, or succeeded (`undefined`). */
  attributesFor(errorType: string | undefined): Attributes {
    return this.#subagent.get(errorType);
  }

  /** `gen_ai.execute_tool.duration` of a call of `type` (past 8 types of a tool, `_OTHER`). */
  genAiAttributesFor(type: string | undefined, errorType: string | undefined): Attributes {
    let variants = this.#genAiByType.get(type);
    if (variants === undefined) {
      if (type !== undefined && type !== OTHER && this.#genAiByType.size >= MAX_TOOL_TYPES_PER_TOOL) return this.genAiAttributesFor(OTHER, errorType);
      const attributes: Attributes = { [ATTR_GEN_AI_AGENT_NAME]: this.agent, [ATTR_GEN_AI_TOOL_NAME]: this.name };
      if (type !== undefined) attributes[ATTR_GEN_AI_TOOL_TYPE] = type;
      variants = new ErrorVariants(attributes);
      this.#genAiByType.set(type, variants);
    }
    return variants.get(errorType);
  }
}

/** What `agentmeter.totals()` returns: sums over every series this meter recorded. */
export interface Totals {
  /** Finished (and denied) runs by outcome. */
  executions: Record<Outcome, number>;
  /** Runs in flight. */
  active: number;
  inputTokens: number;
  outputTokens: number;
  /** Sum of the cost runs reported, in USD. */
  costUsd: number;
}

/** Series by agent name and depth, with a cap on distinct agent names (the rest become `_OTHER`). */
export class SeriesRegistry {
  /** Per agent, the series by depth: a sparse array, holes at depths no run of the agent had. */
  readonly #byAgent = new Map<string, Array<SeriesStats | undefined>>();

  constructor(private readonly maxAgentNames: number) {}

  get(agent: string, depth: number): SeriesStats {
    let byDepth = this.#byAgent.get(agent);
    if (byDepth === undefined) {
      if (this.#byAgent.size >= this.maxAgentNames && agent !== OTHER) return this.get(OTHER, depth);
      byDepth = [];
      this.#byAgent.set(agent, byDepth);
    }
    return (byDepth[depth] ??= new SeriesStats(agent, depth));
  }

  *[Symbol.iterator](): IterableIterator<SeriesStats> {
    for (const byDepth of this.#byAgent.values()) {
      for (const series of byDepth) if (series !== undefined) yield series;
    }
  }

  /** Sums over every series, for summaries and tests. */
  totals(): Totals {
    const executions = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>;
    let active = 0;
    let inputTokens = 0;
    let outputTokens = 0;
    let costNanos = 0;
    for (const series of this) {
      OUTCOMES.forEach((outcome, index) => (executions[outcome] += series.executions[index]!));
      active += series.active;
      inputTokens += series.inputTokens;
      outputTokens += series.outputTokens;
      costNanos += series.costNanos;
    }
    return { executions, active, inputTokens, outputTokens, costUsd: nanosToUsd(costNanos) };
  }
}
