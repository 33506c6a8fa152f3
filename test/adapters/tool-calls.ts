import { expect } from 'vitest';
import { ATTR_ERROR_TYPE, ATTR_GEN_AI_AGENT_NAME, ATTR_GEN_AI_TOOL_NAME, METRIC_TOOL_DURATION } from '../../src/semconv.js';
import type { createAdapterPipeline } from './pipeline.js';

/**
 * Checks the tool calls an adapter recorded (`subagent.tool.duration`), keyed
 * `'<agent> <tool>'` (every call of that tool by that agent's runs) or `'<agent> <tool> <error.type>'`
 * (its failures of that type); the keyed calls without an error type are all the calls recorded.
 */
export async function expectToolCalls(pipeline: ReturnType<typeof createAdapterPipeline>, expected: Record<string, number>): Promise<void> {
  let all = 0;
  for (const [key, count] of Object.entries(expected)) {
    const [agent, tool, errorType] = key.split(' ');
    const match = { [ATTR_GEN_AI_AGENT_NAME]: agent!, [ATTR_GEN_AI_TOOL_NAME]: tool!, ...(errorType !== undefined ? { [ATTR_ERROR_TYPE]: errorType } : {}) };
    expect((await pipeline.histogram(METRIC_TOOL_DURATION, match)).count, key).toBe(count);
    if (errorType === undefined) all += count;
  }
  expect((await pipeline.histogram(METRIC_TOOL_DURATION)).count, 'every tool call recorded').toBe(all);
}
