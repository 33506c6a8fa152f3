import type { Exception } from '@opentelemetry/api';
import { MAX_ERROR_TYPE_LENGTH, OTHER } from '../semconv.js';

/**
 * What telemetry reads from a value an app threw. A thrown value can be anything: a revoked
 * Proxy (every property read, `in` and `instanceof` on it throws), an object whose `name` getter
 * or `toString` throws, `Object.create(null)` (no `toString` at all). Each read here is guarded
 * and falls back to a placeholder, so describing a run's error never stops the run from ending;
 * the value itself still reaches the caller untouched.
 */
export interface ThrownValue {
  /** `error.type`: the value's `name` (a class name or code), or `_OTHER`. */
  readonly errorType: string;
  /** What `span.recordException` gets: a copy of the fields read, never the value itself. */
  readonly exception: Exception;
  /** The span status message: an Error's `message`. */
  readonly message: string | undefined;
}

export function describeThrown(value: unknown): ThrownValue {
  const errorType = errorTypeOf(value);
  if (read(() => value instanceof Error, false)) {
    const error = value as Error & { code?: unknown };
    const name = text(() => error.name);
    const message = text(() => error.message);
    const stack = text(() => error.stack);
    const code = read(() => error.code, undefined);
    if (name !== undefined || message !== undefined) {
      const exception = { name, message, stack, code: typeof code === 'string' || typeof code === 'number' ? code : undefined } as Exception;
      return { errorType, exception, message };
    }
  }
  return { errorType, exception: textOf(value), message: undefined };
}

/** `error.type` of a thrown value: its `name` when that is a string of 1 to 64 characters, else `_OTHER`. */
export function errorTypeOf(value: unknown): string {
  const name = read(() => (typeof value === 'object' && value !== null && 'name' in value ? value.name : undefined), undefined);
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_ERROR_TYPE_LENGTH ? name : OTHER;
}

/** `String(value)`, or what can be said of a value that refuses to be a string. */
function textOf(value: unknown): string {
  const string = read(() => String(value), '');
  if (string.length > 0) return string;
  return read(() => Object.prototype.toString.call(value), `[unreadable ${typeof value}]`);
}

/** A non-empty string property, or `undefined`. */
function text(get: () => unknown): string | undefined {
  const value = read(get, undefined);
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function read<T>(get: () => T, fallback: T): T {
  try {
    return get();
  } catch {
    return fallback;
  }
}
