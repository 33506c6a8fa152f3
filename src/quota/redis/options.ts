import type { Cluster, Redis } from 'ioredis';
import { isObject } from '../../is-object.js';

/** Options of `RedisQuotaStore`. */
export interface RedisQuotaStoreOptions {
  /** An ioredis client (`Redis` or `Cluster`) that you create and close. Required. */
  redis: Redis | Cluster;
  /** Prefix of every key the store writes; must not contain `{` or `}`. Default `'agentmetry:'`. */
  keyPrefix?: string;
  /**
   * What `reserve` does when Redis cannot answer within `timeoutMs`, or the admission queue
   * refuses the run: `'deny'` (default) rejects with `QuotaStoreUnavailableError` (its subclass
   * `QuotaStoreOverloadedError` for the queue); `'allow'` admits the run as unaccounted.
   */
  onUnavailable?: 'deny' | 'allow';
  /**
   * Lifetime of a reservation and its concurrency slot unless renewed. Live runs are renewed by
   * the process every `leaseTtlMs / 3`; a replica that dies gives its slots back after this long.
   * Integer milliseconds, at least 1000. Default `60_000`.
   */
  leaseTtlMs?: number;
  /**
   * How long Redis has to answer each call, in milliseconds, counted from when the call is sent
   * and only while this process's event loop is free: time the loop spent blocked restarts the
   * wait, up to `leaseTtlMs / 2` in all. Default `2_000`.
   */
  timeoutMs?: number;
  /**
   * How often the local view behind `read()` (and so the quota instruments) is refreshed from
   * Redis, in milliseconds: one round trip per known scope. `0` turns the refresh off; script
   * replies still update the view. Default `5_000`.
   */
  refreshIntervalMs?: number;
  /**
   * How many reservations may wait in this store's admission queue while 64 are in flight to
   * Redis. A run arriving when the queue is full is refused with `QuotaStoreOverloadedError`
   * (reason `queue-full`), or admitted unaccounted under `onUnavailable: 'allow'`. Integer, at
   * least 0. Default `10_000`.
   */
  maxQueueDepth?: number;
  /**
   * How long a reservation may wait in the admission queue, in milliseconds (wall clock, checked
   * when its turn comes). Past it the run is refused with `QuotaStoreOverloadedError` (reason
   * `queue-timeout`), or admitted unaccounted under `onUnavailable: 'allow'`. Default `10_000`.
   */
  maxQueueAgeMs?: number;
}

export interface ResolvedRedisOptions {
  redis: Redis | Cluster;
  keyPrefix: string;
  onUnavailable: 'deny' | 'allow';
  leaseTtlMs: number;
  timeoutMs: number;
  refreshIntervalMs: number;
  maxQueueDepth: number;
  maxQueueAgeMs: number;
}

const KNOWN_OPTIONS = new Set(['redis', 'keyPrefix', 'onUnavailable', 'leaseTtlMs', 'timeoutMs', 'refreshIntervalMs', 'maxQueueDepth', 'maxQueueAgeMs']);

/** Validates options at construction; every error names the field and what it expects. */
export function resolveRedisOptions(options: RedisQuotaStoreOptions): ResolvedRedisOptions {
  if (!isObject(options)) {
    throw new TypeError('RedisQuotaStore: options must be an object such as { redis: new Redis() }');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new TypeError(`RedisQuotaStore: unknown option ${key}`);
  }
  const { redis } = options;
  if (!isObject(redis) || typeof (redis as { defineCommand?: unknown }).defineCommand !== 'function') {
    throw new TypeError('RedisQuotaStore: options.redis must be an ioredis client (new Redis(...) or new Cluster(...))');
  }
  // As the caller may have passed them (from JavaScript, or behind a cast): checked, then typed.
  const keyPrefix: unknown = options.keyPrefix ?? 'agentmetry:';
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw new TypeError(`RedisQuotaStore: options.keyPrefix must be a string without '{' or '}', got ${String(keyPrefix)}`);
  }
  const onUnavailable: unknown = options.onUnavailable ?? 'deny';
  if (onUnavailable !== 'deny' && onUnavailable !== 'allow') {
    throw new TypeError(`RedisQuotaStore: options.onUnavailable must be 'deny' or 'allow', got ${String(onUnavailable)}`);
  }
  const leaseTtlMs = options.leaseTtlMs ?? 60_000;
  if (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 1000) {
    throw new TypeError(`RedisQuotaStore: options.leaseTtlMs must be an integer of at least 1000 (milliseconds), got ${String(leaseTtlMs)}`);
  }
  const timeoutMs = options.timeoutMs ?? 2_000;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`RedisQuotaStore: options.timeoutMs must be a positive finite number (milliseconds), got ${String(timeoutMs)}`);
  }
  if (timeoutMs >= leaseTtlMs / 2) {
    throw new TypeError(`RedisQuotaStore: options.timeoutMs must be below leaseTtlMs / 2 (${leaseTtlMs / 2}) so that renewals land in time, got ${timeoutMs}`);
  }
  const refreshIntervalMs = options.refreshIntervalMs ?? 5_000;
  if (typeof refreshIntervalMs !== 'number' || !Number.isFinite(refreshIntervalMs) || refreshIntervalMs < 0) {
    throw new TypeError(
      `RedisQuotaStore: options.refreshIntervalMs must be a non-negative finite number (milliseconds, 0 = off), got ${String(refreshIntervalMs)}`,
    );
  }
  const maxQueueDepth = options.maxQueueDepth ?? 10_000;
  if (!Number.isInteger(maxQueueDepth) || maxQueueDepth < 0) {
    throw new TypeError(`RedisQuotaStore: options.maxQueueDepth must be an integer of at least 0 (reservations), got ${String(maxQueueDepth)}`);
  }
  const maxQueueAgeMs = options.maxQueueAgeMs ?? 10_000;
  if (typeof maxQueueAgeMs !== 'number' || !Number.isFinite(maxQueueAgeMs) || maxQueueAgeMs <= 0) {
    throw new TypeError(`RedisQuotaStore: options.maxQueueAgeMs must be a positive finite number (milliseconds), got ${String(maxQueueAgeMs)}`);
  }
  return { redis, keyPrefix, onUnavailable, leaseTtlMs, timeoutMs, refreshIntervalMs, maxQueueDepth, maxQueueAgeMs };
}
