/** Whether a store's (or a hook's) answer is a promise: stores may answer synchronously or not. */
export function isPromise<T>(value: T | Promise<T> | undefined): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
