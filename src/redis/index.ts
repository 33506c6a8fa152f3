/**
 * `agentmetry/redis`: a quota store shared by every replica of an app, on Redis (ioredis).
 *
 * ```ts
 * import { RedisQuotaStore } from 'agentmetry/redis';
 * const store = new RedisQuotaStore({ redis: new Redis(process.env.REDIS_URL) });
 * ```
 *
 * Check a store of your own against the same contract with the conformance kit of
 * `agentmetry/quota-store`.
 */

/** The quota store shared across replicas through Redis. */
export { RedisQuotaStore } from '../quota/redis/redis-store.js';
/** `RedisQuotaStore`'s handle on one admitted run (what `reserve` returns in `lease`). */
export type { RedisLease } from '../quota/redis/leases.js';
/** Options of `RedisQuotaStore`: the client, key prefix, lease TTL, timeouts and what to do when Redis is unavailable. */
export type { RedisQuotaStoreOptions } from '../quota/redis/options.js';
/** Rejects `reserve` when Redis cannot answer and `onUnavailable` is `'deny'`. */
export { QuotaStoreUnavailableError } from '../errors.js';
/** A kind of `QuotaStoreUnavailableError`: the store's admission queue refused the run without asking Redis. */
export { QuotaStoreOverloadedError, type OverloadReason } from '../quota/redis/overloaded-error.js';
