import type { DiagLogger } from '@opentelemetry/api';
import { isObject } from '../../is-object.js';
import type { ModelCallLimits } from '../../index.js';
import { CALL_TOKEN_ALLOWANCE, MESSAGE_TOKEN_ALLOWANCE, TOOLS_TOKEN_ALLOWANCE, heldLimits, utf8Bytes } from '../shared/call-limits.js';
import type { LangChainInstrumentationOptions, LangChainModelCallInfo } from './options.js';

/** Content parts whose tokens are not bounded by their bytes: media given by URL or id, counted by the provider from its size. */
const MEDIA_PART = /image|audio|video|file|document|media|pdf|text-plain/i;
/** Where chat models put the call's output cap in their invocation params, in order. */
const CAP_KEYS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'maxTokens', 'maxOutputTokens', 'num_predict'] as const;
/** Nested parameter objects that some providers put the cap in (Google's `generationConfig`, Bedrock's `inferenceConfig`, Ollama's `options`). */
const CAP_CONTAINERS = ['generationConfig', 'inferenceConfig', 'options'] as const;

/**
 * The output cap a model call declares in its invocation params: the first positive integer among
 * `max_tokens`, `max_completion_tokens`, `max_output_tokens`, `maxTokens`, `maxOutputTokens` and
 * `num_predict`, at the top level or in `generationConfig`, `inferenceConfig` or `options`.
 * `undefined` when there is none (no declared maximum: ChatOpenAI's `maxTokens: -1` included).
 */
export function declaredOutputCap(invocationParams: unknown): number | undefined {
  if (!isObject(invocationParams)) return undefined;
  const params = invocationParams as Record<string, unknown>;
  for (const scope of [params, ...CAP_CONTAINERS.map((key) => params[key])]) {
    if (!isObject(scope)) continue;
    for (const key of CAP_KEYS) {
      const value = (scope as Record<string, unknown>)[key];
      if (Number.isSafeInteger(value) && (value as number) > 0) return value as number;
    }
  }
  return undefined;
}

/**
 * An upper bound on the input tokens of one model call: the UTF-8 bytes of its messages (or
 * prompts) serialized as JSON, of its invocation params (the tools it offers among them) and of
 * the tools of its call options when the invocation params have none, plus
 * `MESSAGE_TOKEN_ALLOWANCE` per message, `CALL_TOKEN_ALLOWANCE` per call and
 * `TOOLS_TOKEN_ALLOWANCE` when tools are offered.
 *
 * Deliberately conservative: the tokenizers of today's models (byte-level BPE, SentencePiece with
 * byte fallback) give every token at least one byte of text, so a text never has more tokens than
 * UTF-8 bytes, and the JSON holds every text the provider is sent (message ids, metadata and
 * escapes only add bytes). Real counts are typically a quarter of it for English text. `undefined`
 * when a message has a media part (an image, audio, a file): the provider counts those from their
 * size, not from their bytes here, so there is no honest bound; also when the input cannot be
 * serialized.
 */
export function inputTokenBound(input: unknown, extraParams: Record<string, unknown> | undefined): number | undefined {
  const messages: unknown[] = Array.isArray(input) ? input.flat() : [];
  if (messages.some(hasMediaPart)) return undefined;
  const params = extraParams?.invocation_params;
  const optionTools = (extraParams?.options as { tools?: unknown } | undefined)?.tools;
  const paramTools = (params as { tools?: unknown } | undefined)?.tools;
  const extraTools = hasItems(paramTools) ? undefined : optionTools;
  const bytes = [messages, params, extraTools].map((part) => (part === undefined ? 0 : utf8Bytes(part)));
  if (bytes.includes(undefined)) return undefined;
  const allowance =
    MESSAGE_TOKEN_ALLOWANCE * messages.length + CALL_TOKEN_ALLOWANCE + (hasItems(paramTools) || hasItems(optionTools) ? TOOLS_TOKEN_ALLOWANCE : 0);
  return bytes.reduce<number>((total, next) => total + next!, allowance);
}

/**
 * The worst case to hold for one model call, or `undefined` to hold nothing (the call's usage is
 * then charged after it, as before). `options.callLimits` decides when it returns limits;
 * otherwise the call is held when it declares an output cap and its input can be bounded. The
 * cost is held when the limits give one, or when `options.costUsd` prices the worst case.
 */
export function limitsOf(
  logger: DiagLogger,
  options: LangChainInstrumentationOptions,
  call: LangChainModelCallInfo,
  groups: number,
): ModelCallLimits | undefined {
  // A batch of message groups runs one generation per group, each up to the cap.
  const fallback =
    call.maxOutputTokens === undefined || call.inputTokens === undefined
      ? undefined
      : { inputTokens: call.inputTokens, maxOutputTokens: call.maxOutputTokens * Math.max(1, groups) };
  const hook = options.callLimits;
  return heldLimits(logger, hook === undefined ? undefined : () => hook(call), fallback, {
    hook: options.costUsd,
    usage: (limits) => ({ inputTokens: limits.inputTokens, outputTokens: limits.maxOutputTokens, model: call.model }),
  });
}

/** Whether a message (or a content part) has a media part, at any depth (a tool result can hold an image). */
function hasMediaPart(message: unknown): boolean {
  if (!isObject(message)) return false;
  const { type, content } = message as { type?: unknown; content?: unknown };
  if (typeof type === 'string' && MEDIA_PART.test(type)) return true;
  return Array.isArray(content) && content.some(hasMediaPart);
}

function hasItems(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : isObject(value);
}
