/**
 * Whether a value is an object (and not null). Option parsers test values their types already
 * call objects with it: a caller in JavaScript, or behind a cast, can pass anything, and that
 * mistake must fail with a message naming the field.
 */
export function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
