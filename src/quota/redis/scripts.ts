/**
 * The Lua scripts behind `RedisQuotaStore`. Each store operation is one script, so each is one
 * round trip and atomic on the server.
 *
 * Keys of one budget hierarchy share the hash tag of its root scope, so every key a script
 * touches lives in one slot (Redis Cluster). The sweep reads a lease's node keys from the lease
 * itself; those keys are not declared in KEYS but are always in the declared keys' slot.
 *
 * Layout (`P` = key prefix, `T` = hash tag of the root scope):
 * - `P{T}:node:<key>`   hash of one scope (shared by every replica), in ledger units:
 *                       ue ut uc (used executions, tokens, nano-dollars),
 *                       re rt rc rk (reserved executions, tokens, nano-dollars, concurrency slots),
 *                       s (epoch ms of the first admission, set by the client's clock).
 * - `P{T}:run:<process>:<key>`  the same for a run budget, which belongs to one run in one
 *                       process; namespaced by the process because its key is unique only there.
 * - `P{T}:leases`       sorted set: lease id scored by its expiry (the server's clock, ms).
 * - `P{T}:leases:<id>`  hash of one lease: ht hc (tokens and nano-dollars still held in reserve),
 *                       sq (highest charge applied), g<seq> (a lower charge not applied yet:
 *                       a later one landed first), st (1 once settled), n, k1..kn ('0' or '1' for
 *                       ephemeral, then the node's key). A settled lease lingers one TTL as a
 *                       tombstone so that a resent charge is not applied twice.
 *
 * Every script replies with the state of its nodes after the operation: per node, `exists` then
 * ue ut uc re rt rc rk s (s = -1 when unset).
 */

/** Shared helpers, prepended to each script. */
const COMMON = `
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function read_node(key)
  local v = redis.call('HMGET', key, 'ue', 'ut', 'uc', 're', 'rt', 'rc', 'rk', 's')
  local exists = 0
  for i = 1, 8 do
    if v[i] then exists = 1; v[i] = tonumber(v[i]) else v[i] = (i == 8) and -1 or 0 end
  end
  return exists, v
end

local function push_node(reply, key)
  local exists, v = read_node(key)
  reply[#reply + 1] = exists
  for i = 1, 8 do reply[#reply + 1] = v[i] end
end

local function add(key, field, amount)
  if amount ~= 0 then redis.call('HINCRBY', key, field, amount) end
end

-- Gives back what a lease holds on one node; its execution becomes used unless cancelled.
local function release(key, ephemeral, tokens, nanos, count_execution)
  if redis.call('EXISTS', key) == 0 then return end
  add(key, 're', -1)
  local slots = redis.call('HINCRBY', key, 'rk', -1)
  add(key, 'rt', -tokens)
  add(key, 'rc', -nanos)
  if count_execution then add(key, 'ue', 1) end
  if ephemeral and slots <= 0 then redis.call('DEL', key) end
end

-- Returns the holds of expired leases. An expired lease was admitted: its execution counts as
-- used; what it charged stays charged; what it still held in reserve and its slot come back.
local function sweep(leases, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    local lease_key = leases .. ':' .. id
    local h = redis.call('HMGET', lease_key, 'ht', 'hc', 'n', 'st')
    if h[3] and h[4] ~= '1' then
      local tokens, nanos = tonumber(h[1]), tonumber(h[2])
      for i = 1, tonumber(h[3]) do
        local entry = redis.call('HGET', lease_key, 'k' .. i)
        if entry then release(string.sub(entry, 2), string.sub(entry, 1, 1) == '1', tokens, nanos, true) end
      end
    end
    redis.call('DEL', lease_key)
    redis.call('ZREM', leases, id)
  end
end

local function num(value)
  return tonumber(value)
end
`;

/**
 * Checks and reserves every limit of every node at once.
 * KEYS: leases, lease, node1..nodeN.
 * ARGV: id, now, enforce (1|0), estimate tokens, estimate nano-dollars, ttl ms, N, refuse after
 *       (epoch ms on the server's clock; -1 = never), then per node ephemeral (1|0) and the limits
 *       executions, concurrent, tokens, nano-dollars, wall ms (-1 = none).
 * Reply: status ('admitted' | 'denied' | 'duplicate' | 'expired'), violation resource ('' = none),
 *        violating node index (1-based), limit, used, requested, then node states. 'expired': the
 *        reservation arrived after its caller's deadline and changed nothing.
 */
export const RESERVE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, now, enforce = ARGV[1], num(ARGV[2]), ARGV[3] == '1'
local tokens, nanos, ttl, n, refuse_after = num(ARGV[4]), num(ARGV[5]), num(ARGV[6]), num(ARGV[7]), num(ARGV[8])
local reply

if redis.call('EXISTS', lease) == 1 then
  -- The same reservation delivered twice (a client resend after a reconnect): reserve once.
  reply = {'duplicate', '', 0, 0, 0, 0}
  for i = 1, n do push_node(reply, KEYS[i + 2]) end
  return reply
end

local arrived = server_ms()
if refuse_after >= 0 and arrived > refuse_after then
  -- Its caller has given up by now: reserve nothing, so that no budget is held for nobody.
  reply = {'expired', '', 0, 0, 0, 0}
  for i = 1, n do push_node(reply, KEYS[i + 2]) end
  return reply
end

sweep(leases, arrived)

local v_resource, v_index, v_limit, v_used, v_requested
for i = 1, n do
  local key = KEYS[i + 2]
  local _, s = read_node(key)
  if not v_resource then
    local b = 8 + (i - 1) * 6
    local l_exec, l_conc, l_tokens, l_nanos, l_wall = num(ARGV[b + 2]), num(ARGV[b + 3]), num(ARGV[b + 4]), num(ARGV[b + 5]), num(ARGV[b + 6])
    local started = s[8]
    if l_wall >= 0 and started >= 0 and now - started >= l_wall then
      v_resource, v_limit, v_used, v_requested = 'wallTimeMs', l_wall, now - started, 0
    elseif l_exec >= 0 and s[1] + s[4] + 1 > l_exec then
      v_resource, v_limit, v_used, v_requested = 'executions', l_exec, s[1] + s[4], 1
    elseif l_conc >= 0 and s[7] + 1 > l_conc then
      v_resource, v_limit, v_used, v_requested = 'concurrent', l_conc, s[7], 1
    elseif l_tokens >= 0 and (s[2] + s[5] >= l_tokens or s[2] + s[5] + tokens > l_tokens) then
      v_resource, v_limit, v_used, v_requested = 'tokens', l_tokens, s[2] + s[5], tokens
    elseif l_nanos >= 0 and (s[3] + s[6] >= l_nanos or s[3] + s[6] + nanos > l_nanos) then
      v_resource, v_limit, v_used, v_requested = 'costUsd', l_nanos, s[3] + s[6], nanos
    end
    if v_resource then v_index = i end
  end
end

if v_resource and enforce then
  reply = {'denied', v_resource, v_index, v_limit, v_used, v_requested}
  for i = 1, n do push_node(reply, KEYS[i + 2]) end
  return reply
end

local lease_fields = {'ht', tokens, 'hc', nanos, 'sq', 0, 'st', 0, 'n', n}
for i = 1, n do
  local key = KEYS[i + 2]
  redis.call('HSETNX', key, 's', now)
  add(key, 're', 1)
  add(key, 'rk', 1)
  add(key, 'rt', tokens)
  add(key, 'rc', nanos)
  lease_fields[#lease_fields + 1] = 'k' .. i
  lease_fields[#lease_fields + 1] = ARGV[8 + (i - 1) * 6 + 1] .. key
end
redis.call('HSET', lease, unpack(lease_fields))
redis.call('ZADD', leases, server_ms() + ttl, id)

reply = {'admitted', v_resource or '', v_index or 0, v_limit or 0, v_used or 0, v_requested or 0}
for i = 1, n do push_node(reply, KEYS[i + 2]) end
return reply
`;

/**
 * Charges usage to a lease's nodes, out of what the lease still holds first, and extends the
 * lease (a charge proves its run is alive). Each charge number is applied once, in any order.
 * KEYS: leases, lease, node1..nodeN.
 * ARGV: id, tokens, nano-dollars, charge sequence number, ttl ms, N, then per node ephemeral
 *       (1|0) and the limits tokens, nano-dollars (-1 = none).
 * Reply: status ('charged' | 'duplicate'), overshoot resource ('' = none), node index, limit,
 *        used, requested, then node states.
 */
export const CHARGE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, tokens, nanos, seq, ttl, n = ARGV[1], num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]), num(ARGV[6])
local reply
local from_tokens, from_nanos = 0, 0

local h = redis.call('HMGET', lease, 'ht', 'hc', 'sq', 'st')
if h[3] then
  local last = num(h[3])
  if seq <= last then
    -- Applied already, unless it was skipped (a later charge landed first): then its gap mark is here.
    if redis.call('HDEL', lease, 'g' .. seq) == 0 then
      reply = {'duplicate', '', 0, 0, 0, 0}
      for i = 1, n do push_node(reply, KEYS[i + 2]) end
      return reply
    end
  else
    for skipped = last + 1, seq - 1 do redis.call('HSET', lease, 'g' .. skipped, 1) end
    redis.call('HSET', lease, 'sq', seq)
  end
  if h[4] ~= '1' then
    from_tokens = math.min(num(h[1]), tokens)
    from_nanos = math.min(num(h[2]), nanos)
    add(lease, 'ht', -from_tokens)
    add(lease, 'hc', -from_nanos)
    redis.call('ZADD', leases, 'XX', server_ms() + ttl, id)
  end
end
-- Without a lease hash the lease was settled long ago or reaped: the usage is charged directly.

local beyond = tokens > from_tokens or nanos > from_nanos
local v_resource, v_index, v_limit, v_used, v_requested
for i = 1, n do
  local key = KEYS[i + 2]
  local b = 6 + (i - 1) * 3
  -- A run budget that no longer exists (its runs all ended) is not recreated by late usage.
  if ARGV[b + 1] ~= '1' or redis.call('EXISTS', key) == 1 then
    add(key, 'rt', -from_tokens)
    add(key, 'rc', -from_nanos)
    local used_tokens = redis.call('HINCRBY', key, 'ut', tokens)
    local used_nanos = redis.call('HINCRBY', key, 'uc', nanos)
    if beyond and not v_resource then
      local r = redis.call('HMGET', key, 'rt', 'rc')
      local held_tokens = used_tokens + (num(r[1]) or 0)
      local held_nanos = used_nanos + (num(r[2]) or 0)
      local l_tokens, l_nanos = num(ARGV[b + 2]), num(ARGV[b + 3])
      if l_tokens >= 0 and held_tokens > l_tokens then
        v_resource, v_index, v_limit, v_used, v_requested = 'tokens', i, l_tokens, held_tokens - tokens, tokens
      elseif l_nanos >= 0 and held_nanos > l_nanos then
        v_resource, v_index, v_limit, v_used, v_requested = 'costUsd', i, l_nanos, held_nanos - nanos, nanos
      end
    end
  end
end

reply = {'charged', v_resource or '', v_index or 0, v_limit or 0, v_used or 0, v_requested or 0}
for i = 1, n do push_node(reply, KEYS[i + 2]) end
return reply
`;

/**
 * Releases what a lease holds and its slots; its execution becomes used ('settle') or is given
 * back ('cancel', for a reservation whose caller had already given up on it). Idempotent.
 * KEYS: leases, lease, node1..nodeN.
 * ARGV: id, mode ('settle' | 'cancel'), tombstone ttl ms, N, then per node ephemeral (1|0).
 * Reply: status ('settled' | 'noop'), then node states.
 */
export const SETTLE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, mode, ttl, n = ARGV[1], ARGV[2], num(ARGV[3]), num(ARGV[4])
local reply
local h = redis.call('HMGET', lease, 'ht', 'hc', 'st')
if not h[1] or h[3] == '1' then
  reply = {'noop'}
else
  local tokens, nanos = num(h[1]), num(h[2])
  for i = 1, n do
    release(KEYS[i + 2], ARGV[4 + i] == '1', tokens, nanos, mode ~= 'cancel')
  end
  redis.call('ZREM', leases, id)
  redis.call('HSET', lease, 'ht', 0, 'hc', 0, 'st', 1)
  redis.call('PEXPIRE', lease, ttl)
  reply = {'settled'}
end
for i = 1, n do push_node(reply, KEYS[i + 2]) end
return reply
`;

/**
 * The background step for one hash tag: returns expired leases' holds, extends this process's
 * live leases, and reads nodes for the local view.
 * KEYS: leases, node1..nodeN.
 * ARGV: ttl ms, M, lease id 1..M, N.
 * Reply: number of live leases that were not found (already reaped), their ids, then node states.
 */
export const SYNC_SCRIPT = `${COMMON}
local leases = KEYS[1]
local now = server_ms()
sweep(leases, now)
local ttl, m = num(ARGV[1]), num(ARGV[2])
local n = num(ARGV[3 + m])
local missing = {}
for i = 1, m do
  local id = ARGV[2 + i]
  if redis.call('ZSCORE', leases, id) then
    redis.call('ZADD', leases, 'XX', now + ttl, id)
  else
    missing[#missing + 1] = id
  end
end
local reply = {#missing}
for _, id in ipairs(missing) do reply[#reply + 1] = id end
for i = 1, n do push_node(reply, KEYS[i + 1]) end
return reply
`;
