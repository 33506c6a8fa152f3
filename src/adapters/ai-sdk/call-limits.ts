import type { DiagLogger } from '@opentelemetry/api';
import { isObject } from '../../is-object.js';
import type { ModelCallLimits } from '../../index.js';
import { CALL_TOKEN_ALLOWANCE, MEDIA_PART, MESSAGE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE, heldLimits, utf8Bytes } from '../shared/call-limits.js';
import type { AiSdkInstrumentationOptions, AiSdkModelCallInfo } from './options.js';

/** How deep a message is searched for media parts; a deeper one is not bounded (nor is a cycle). */
const MAX_PART_DEPTH = 12;

/** What the AI SDK passes about one model call before it (the start event of the call, AI SDK 7). */
export interface ModelCallEvent {
  provider?: unknown;
  modelId?: unknown;
  instructions?: unknown;
  messages?: unknown;
  tools?: unknown;
  maxOutputTokens?: unknown;
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
    inputTokens: inputTokenBound(event.instructions, event.messages, event.tools),
  };
  const fallback = maxOutputTokens === undefined || call.inputTokens === undefined ? undefined : { inputTokens: call.inputTokens, maxOutputTokens };
  return heldLimits(logger, hook === undefined ? undefined : () => hook(call), fallback, {
    hook: options.costUsd,
    usage: (limits) => ({ inputTokens: limits.inputTokens, outputTokens: limits.maxOutputTokens, modelId: call.modelId }),
  });
}

/**
 * An upper bound on the input tokens of one model call: the UTF-8 bytes of its instructions,
 * messages and tool definitions serialized as JSON, plus `MESSAGE_TOKEN_ALLOWANCE` per message
 * (the instructions count as one), `CALL_TOKEN_ALLOWANCE` and, when tools are offered,
 * `TOOLS_TOKEN_ALLOWANCE`: a text never has more tokens than UTF-8 bytes with today's tokenizers.
 * `undefined` when a message holds a media part (an image, a file), which the provider counts from
 * its size, not its bytes here, or when the input cannot be serialized.
 */
export function inputTokenBound(instructions: unknown, messages: unknown, tools: unknown): number | undefined {
  const list = Array.isArray(messages) ? messages : [];
  if (hasMediaPart(list, 0) || hasMediaPart(instructions, 0)) return undefined;
  const offersTools = Array.isArray(tools) && tools.length > 0;
  const bytes = [instructions, list, offersTools ? tools : undefined].map((part) => (part === undefined ? 0 : utf8Bytes(part)));
  if (bytes.includes(undefined)) return undefined;
  const messageCount = list.length + (instructions === undefined ? 0 : 1);
  const allowance = MESSAGE_TOKEN_ALLOWANCE * messageCount + CALL_TOKEN_ALLOWANCE + (offersTools ? TOOLS_TOKEN_ALLOWANCE : 0);
  return bytes.reduce<number>((total, next) => total + next!, allowance);
}

/** Whether a value holds a part whose `type` is media, at any depth (a tool result can hold an image); too deep counts as media. */
function hasMediaPart(value: unknown, depth: number): boolean {
  if (depth > MAX_PART_DEPTH) return true;
  if (Array.isArray(value)) return value.some((item) => hasMediaPart(item, depth + 1));
  if (!isObject(value) || ArrayBuffer.isView(value)) return false;
  const { type } = value as { type?: unknown };
  if (typeof type === 'string' && MEDIA_PART.test(type)) return true;
  return Object.values(value).some((item) => hasMediaPart(item, depth + 1));
}
