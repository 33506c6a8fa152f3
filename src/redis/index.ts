/**
 * `agentmetry/redis`: a quota store shared by every replica of an app, on Redis (ioredis).
 *
 * ```ts
 * import { RedisQuotaStore } from 'agentmetry/redis';
 * const store = new RedisQuotaStore({ redis: new Redis(process.env.REDIS_URL) });
 * ```
 */
export { RedisQuotaStore } from '../quota/redis/redis-store.js';
export type { RedisQuotaStoreOptions } from '../quota/redis/options.js';
export { QuotaStoreUnavailableError } from '../errors.js';
