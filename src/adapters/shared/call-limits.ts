import type { DiagLogger } from '@opentelemetry/api';
import { isObject } from '../../is-object.js';
import { safeCall } from '../../log.js';
import type { ModelCallLimits } from '../../index.js';
import { priceUsage } from './pricing.js';

/**
 * Tokens allowed per message (or prompt) on top of its bytes: the role and the separators a chat
 * template adds around each message (OpenAI's count 3 to 4 per message).
 */
export const MESSAGE_TOKEN_ALLOWANCE = 8;
/** Tokens allowed per call: the template's opening and the reply's priming. */
export const CALL_TOKEN_ALLOWANCE = 16;
/** Tokens allowed per call that offers tools: the hidden system prompt some providers add for tool use (Anthropic documents a few hundred). */
export const TOOLS_TOKEN_ALLOWANCE = 1_024;

/**
 * The worst case to hold for one model call, or `undefined` to hold nothing (its usage is then
 * charged after it): what the app's `callLimits` hook returns when it returns valid limits, else
 * `fallback` (the adapter's own bound, when it has one). The cost is held when the limits give
 * one, or when the `costUsd` pricing hook prices the worst case.
 */
export function heldLimits<U>(
  logger: DiagLogger,
  hook: (() => unknown) | undefined,
  fallback: ModelCallLimits | undefined,
  price: { hook: ((usage: U) => number | undefined) | undefined; usage: (limits: ModelCallLimits) => U },
): ModelCallLimits | undefined {
  const limits = (hook === undefined ? undefined : validLimits(logger, safeCall(logger, 'options.callLimits', hook, 'warn'))) ?? fallback;
  if (limits === undefined || limits.costUsd !== undefined) return limits;
  const costUsd = priceUsage(logger, price.hook, price.usage(limits));
  return costUsd === undefined ? limits : { ...limits, costUsd };
}

/** What `options.callLimits` returned, when it is valid limits; a warning and `undefined` otherwise. */
function validLimits(logger: DiagLogger, given: unknown): ModelCallLimits | undefined {
  if (given === undefined) return undefined;
  const { inputTokens, maxOutputTokens, costUsd } = (isObject(given) ? given : {}) as Partial<Record<keyof ModelCallLimits, unknown>>;
  const count = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
  const price = costUsd === undefined || (typeof costUsd === 'number' && Number.isFinite(costUsd) && costUsd >= 0);
  if (count(inputTokens) && count(maxOutputTokens) && price) {
    return { inputTokens: inputTokens as number, maxOutputTokens: maxOutputTokens as number, ...(costUsd !== undefined ? { costUsd } : {}) };
  }
  logger.warn(
    'options.callLimits returned no valid limits (expected { inputTokens, maxOutputTokens } as non-negative integers and an optional non-negative costUsd); the default applies',
  );
  return undefined;
}

/** The UTF-8 bytes of a value serialized as JSON; `undefined` when it cannot be (a cycle, a BigInt). */
export function utf8Bytes(value: unknown): number | undefined {
  try {
    // undefined for a lone function or symbol, whatever its declared type says.
    const json: unknown = JSON.stringify(value);
    return typeof json === 'string' ? Buffer.byteLength(json, 'utf8') : 0;
  } catch {
    return undefined;
  }
}
