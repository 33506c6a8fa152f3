import type { DiagLogger } from '@opentelemetry/api';
import { isQuotaRefusal } from '../../errors.js';
import { isObject } from '../../is-object.js';
import type { ModelCall, ModelCallLimits, Run } from '../../index.js';
import { CALL_TOKEN_ALLOWANCE, MESSAGE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE, heldLimits, utf8Bytes } from '../shared/call-limits.js';
import type { AiSdkInstrumentationOptions, AiSdkModelCallInfo } from './options.js';

/**
 * Message parts whose tokens are not bounded by their bytes: media (counted by the provider from
 * its size, or fetched from a URL) and provider-specific parts. Also a tool result's content items.
 */
const UNBOUNDED_PARTS = new Set(['image', 'file', 'reasoning-file', 'custom']);
const UNBOUNDED_RESULT_ITEMS = /^(image|file|media|custom)/;

/** What the AI SDK passes about one model call before it (the start event of the call, AI SDK 7). */
export interface ModelCallEvent {
  /** `false` when the app set `telemetry.recordInputs: false`: the SDK then hides the request (empty messages, no instructions or tools). */
  recordInputs?: unknown;
  provider?: unknown;
  modelId?: unknown;
  instructions?: unknown;
  messages?: unknown;
  tools?: unknown;
  maxOutputTokens?: unknown;
  /** What else the request carries that the provider counts: the output's response format (its JSON schema), the provider options. */
  extras?: readonly unknown[];
}

/**
 * The worst case to hold for one model call, or `undefined` to hold nothing (its usage is then
 * charged after it): `options.callLimits`' when it gives valid limits, else the call's
 * `maxOutputTokens` and the bound on its input when both are known; the cost is what
 * `options.costUsd` gives for that worst case, if anything.
 */
export function callLimitsOf(logger: DiagLogger, options: AiSdkInstrumentationOptions, event: ModelCallEvent): ModelCallLimits | undefined {
  const maxOutputTokens = Number.isSafeInteger(event.maxOutputTokens) && (event.maxOutputTokens as number) > 0 ? (event.maxOutputTokens as number) : undefined;
  const hook = options.callLimits;
  // Without a cap or a hook of the app's there is nothing to hold: the prompt is not serialized.
  if (maxOutputTokens === undefined && hook === undefined) return undefined;
  const call: AiSdkModelCallInfo = {
    provider: typeof event.provider === 'string' ? event.provider : '',
    modelId: typeof event.modelId === 'string' ? event.modelId : '',
    instructions: event.instructions,
    messages: Array.isArray(event.messages) ? event.messages : [],
    tools: Array.isArray(event.tools) ? event.tools : [],
    maxOutputTokens,
    // With recordInputs false the SDK shows an empty request: no bound (the app's callLimits can give one).
    inputTokens: event.recordInputs === false ? undefined : inputTokenBound(event.instructions, event.messages, event.tools, event.extras),
  };
  const fallback = maxOutputTokens === undefined || call.inputTokens === undefined ? undefined : { inputTokens: call.inputTokens, maxOutputTokens };
  return heldLimits(logger, hook === undefined ? undefined : () => hook(call), fallback, {
    hook: options.costUsd,
    usage: (limits) => ({ inputTokens: limits.inputTokens, outputTokens: limits.maxOutputTokens, modelId: call.modelId }),
  });
}

/**
 * Holds the worst case of a model call before it reaches the model: `limitsOf` bounds it (its
 * failure only logged), `run.reserveCall` holds it. Throws the refusal of a call that does not fit
 * (the run is stopped with it) or the reason of a run stopped meanwhile; `undefined` when there
 * is nothing to hold or holding failed otherwise (its usage is then charged after it).
 */
export async function holdModelCall(logger: DiagLogger, run: Run, limitsOf: () => Promise<ModelCallLimits | undefined>): Promise<ModelCall | undefined> {
  let limits: ModelCallLimits | undefined;
  try {
    limits = await limitsOf();
  } catch (error) {
    logger.error('bounding a model call failed; its usage is charged after it', error);
    return undefined;
  }
  if (limits === undefined) return undefined;
  try {
    return await run.reserveCall(limits);
  } catch (error) {
    if (isQuotaRefusal(error) || run.signal.aborted) throw error;
    logger.warn('holding the model call failed; its usage is charged after it', error);
    return undefined;
  }
}

/**
 * An upper bound on the input tokens of one model call: the UTF-8 bytes of its instructions,
 * messages, tool definitions and `extras` (response format, provider options) serialized as JSON, plus `MESSAGE_TOKEN_ALLOWANCE` per message
 * (the instructions count as one), `CALL_TOKEN_ALLOWANCE` and, when tools are offered,
 * `TOOLS_TOKEN_ALLOWANCE`: a text never has more tokens than UTF-8 bytes with today's tokenizers.
 * `undefined` when a message holds a media part (an image, a file), which the provider counts from
 * its size, not its bytes here, or when the input cannot be serialized.
 */
export function inputTokenBound(instructions: unknown, messages: unknown, tools: unknown, extras: readonly unknown[] = []): number | undefined {
  const list = Array.isArray(messages) ? messages : [];
  if (list.some(hasUnboundedPart)) return undefined;
  const offersTools = Array.isArray(tools) && tools.length > 0;
  const bytes = [instructions, list, offersTools ? tools : undefined, ...extras].map((part) => (part === undefined ? 0 : utf8Bytes(part)));
  if (bytes.includes(undefined)) return undefined;
  const messageCount = list.length + (instructions === undefined ? 0 : 1);
  const allowance = MESSAGE_TOKEN_ALLOWANCE * messageCount + CALL_TOKEN_ALLOWANCE + (offersTools ? TOOLS_TOKEN_ALLOWANCE : 0);
  return bytes.reduce<number>((total, next) => total + next!, allowance);
}

/** The JSON schema an output (`Output.object(...)`, the call's `output`) asks the model for, which the request carries; `undefined` without one. */
export async function responseFormatOf(output: unknown): Promise<unknown> {
  const format = isObject(output) ? (output as { responseFormat?: unknown }).responseFormat : undefined;
  return await format;
}

/**
 * Whether a message (`ModelMessage`) has a part whose tokens its bytes do not bound: an image, a
 * file, a provider's custom part, or a tool result whose content holds one. A tool result's JSON or
 * text output is bounded by its bytes, whatever it says.
 */
function hasUnboundedPart(message: unknown): boolean {
  const content = isObject(message) ? (message as { content?: unknown }).content : undefined;
  if (!Array.isArray(content)) return false;
  return content.some((part) => {
    if (!isObject(part)) return false;
    const { type, output } = part as { type?: unknown; output?: { type?: unknown; value?: unknown } };
    if (typeof type === 'string' && UNBOUNDED_PARTS.has(type)) return true;
    if (type !== 'tool-result' || output?.type !== 'content' || !Array.isArray(output.value)) return false;
    return output.value.some((item) => isObject(item) && UNBOUNDED_RESULT_ITEMS.test(String((item as { type?: unknown }).type)));
  });
}
