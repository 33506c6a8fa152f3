/**
 * The Lua scripts behind `RedisQuotaStore`. Each store operation is one script, so each is one
 * round trip and atomic on the server.
 *
 * Keys of one budget hierarchy share the hash tag of its root scope, so every key a script
 * touches lives in one slot (Redis Cluster). The sweep reads a lease's node and window keys from
 * the lease itself; those keys are not declared in KEYS but are always in the declared keys' slot.
 *
 * Layout (`P` = key prefix, `T` = hash tag of the root scope):
 * - `P{T}:node:<key>`   hash of one scope (shared by every replica), in ledger units:
 *                       ue ut uc (used executions, tokens, nano-dollars),
 *                       re rt rc rk (reserved executions, tokens, nano-dollars, concurrency slots),
 *                       s (epoch ms of the first admission, set by the client's clock),
 *                       i (how long the scope's counts are kept once idle, ms; absent: for good),
 *                       x (the latest end of a window bucket any run of the scope counted in).
 *                       Persistent while a run is in flight; once the last one ends it expires at
 *                       max(now + i, x) + EXPIRY_SLACK_MS, if it has `i`.
 * - `P{T}:run:<process>:<key>`  the same for a run budget, which belongs to one run in one
 *                       process; namespaced by the process because its key is unique only there.
 * - `P{T}:win:<label>:node:<key>` (and `…:run:<process>:<key>`)  hash of one window of a node:
 *                       fields `<bucket start>:<ue|ut|uc|re|rt|rc>` per bucket (the same
 *                       counts as a node, per bucket). Buckets more than a window older than the
 *                       oldest live bucket are deleted by the next reservation; the hash expires
 *                       EXPIRY_SLACK_MS after its newest bucket leaves the window.
 * - `P{T}:leases`       sorted set: lease id scored by its expiry (the server's clock, ms).
 * - `P{T}:leases:<id>`  hash of one lease: ht hc (tokens and nano-dollars still held in reserve),
 *                       sq (highest charge applied), g<seq> (a lower charge not applied yet:
 *                       a later one landed first), st (1 once settled), n, k1..kn ('0' or '1' for
 *                       ephemeral, then the node's key), nw, w1..wn (`<bucket end>|<bucket
 *                       start>|<window key>` of each window bucket it counts in). A settled lease
 *                       lingers one TTL as a tombstone so that a resent charge is not applied twice.
 *
 * Times that decide a window (bucket starts, the oldest live bucket, bucket ends) are computed by
 * the client from its `now` (time zones and calendars stay in JavaScript) and passed as ARGV.
 *
 * Every script replies with the state of its nodes after the operation: per node, `exists` then
 * ue ut uc re rt rc rk s (s = -1 when unset), then per window of the node the count of its live
 * buckets and, per bucket, start ue ut uc re rt rc.
 */

/** How long after the client's expiry time a window or idle scope key expires: room for clock skew between hosts and Redis. */
export const EXPIRY_SLACK_MS = 1_000;

/** Shared helpers, prepended to each script. */
const COMMON = `
local EXPIRY_SLACK_MS = ${EXPIRY_SLACK_MS}
local BUCKET_FIELDS = {ue = 1, ut = 2, uc = 3, re = 4, rt = 5, rc = 6}

local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(value)
  return tonumber(value)
end

local function read_node(key)
  local v = redis.call('HMGET', key, 'ue', 'ut', 'uc', 're', 'rt', 'rc', 'rk', 's')
  local exists = 0
  for i = 1, 8 do
    if v[i] then exists = 1; v[i] = tonumber(v[i]) else v[i] = (i == 8) and -1 or 0 end
  end
  return exists, v
end

local function add(key, field, amount)
  if amount ~= 0 then redis.call('HINCRBY', key, field, amount) end
end

-- The live buckets of one window hash (start >= oldest), each {start, ue, ut, uc, re, rt, rc}.
-- With prune_before, fields of buckets older than it are deleted: a window further back than
-- the oldest live one, so that a reservation decided a little earlier (it waited in a queue,
-- or its host's clock lags) still finds every bucket it counts.
local function read_window(key, oldest, prune_before)
  local all = redis.call('HGETALL', key)
  local by_start, buckets, stale = {}, {}, {}
  for i = 1, #all, 2 do
    local field = all[i]
    local sep = string.find(field, ':', 1, true)
    local start = sep and tonumber(string.sub(field, 1, sep - 1))
    local index = sep and BUCKET_FIELDS[string.sub(field, sep + 1)]
    if not start or not index or (prune_before and start < prune_before) then
      stale[#stale + 1] = field
    elseif start >= oldest then
      local bucket = by_start[start]
      if not bucket then
        bucket = {start, 0, 0, 0, 0, 0, 0}
        by_start[start] = bucket
        buckets[#buckets + 1] = bucket
      end
      bucket[index + 1] = tonumber(all[i + 1])
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return buckets
end

-- ue ut uc re rt rc summed over a window's live buckets.
local function window_totals(buckets)
  local t = {0, 0, 0, 0, 0, 0}
  for _, b in ipairs(buckets) do
    for j = 1, 6 do t[j] = t[j] + b[j + 1] end
  end
  return t
end

-- Appends one node's state, then its windows' live buckets: windows is a list of {key, oldest}.
local function push_node(reply, key, windows)
  local exists, v = read_node(key)
  reply[#reply + 1] = exists
  for i = 1, 8 do reply[#reply + 1] = v[i] end
  for _, w in ipairs(windows) do
    local buckets = read_window(w.key, w.oldest)
    reply[#reply + 1] = #buckets
    for _, b in ipairs(buckets) do
      for j = 1, 7 do reply[#reply + 1] = b[j] end
    end
  end
end

-- Sets a key to expire at \`at\` (epoch ms) unless it already expires later.
local function expire_no_sooner(key, at)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and at - server_ms() > ttl) then redis.call('PEXPIREAT', key, at) end
end

-- Gives back what a lease holds on one node; its execution becomes used unless cancelled. A
-- scope left with nothing in flight expires once idle long enough, if it says how long.
local function release(key, ephemeral, tokens, nanos, count_execution)
  if redis.call('EXISTS', key) == 0 then return end
  add(key, 're', -1)
  local slots = redis.call('HINCRBY', key, 'rk', -1)
  add(key, 'rt', -tokens)
  add(key, 'rc', -nanos)
  if count_execution then add(key, 'ue', 1) end
  if slots > 0 then return end
  if ephemeral then
    redis.call('DEL', key)
    return
  end
  local kept = redis.call('HMGET', key, 'i', 'x')
  if kept[1] then
    local at = math.max(server_ms() + num(kept[1]), num(kept[2]) or 0) + EXPIRY_SLACK_MS
    redis.call('PEXPIREAT', key, at)
  end
end

-- Gives back what a lease holds in one window bucket, if the bucket is still there.
local function release_bucket(key, start, tokens, nanos, count_execution)
  if redis.call('HEXISTS', key, start .. ':re') == 0 then return end
  add(key, start .. ':re', -1)
  add(key, start .. ':rt', -tokens)
  add(key, start .. ':rc', -nanos)
  if count_execution then add(key, start .. ':ue', 1) end
end

-- Returns the holds of expired leases. An expired lease was admitted: its execution counts as
-- used; what it charged stays charged; what it still held in reserve and its slot come back.
local function sweep(leases, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    local lease_key = leases .. ':' .. id
    local h = redis.call('HMGET', lease_key, 'ht', 'hc', 'n', 'st', 'nw')
    if h[3] and h[4] ~= '1' then
      local tokens, nanos = tonumber(h[1]), tonumber(h[2])
      for i = 1, tonumber(h[3]) do
        local entry = redis.call('HGET', lease_key, 'k' .. i)
        if entry then release(string.sub(entry, 2), string.sub(entry, 1, 1) == '1', tokens, nanos, true) end
      end
      for j = 1, (tonumber(h[5]) or 0) do
        local entry = redis.call('HGET', lease_key, 'w' .. j)
        if entry then
          local ends, start, key = string.match(entry, '^([^|]+)|([^|]+)|(.*)$')
          if key and now < tonumber(ends) then release_bucket(key, start, tokens, nanos, true) end
        end
      end
    end
    redis.call('DEL', lease_key)
    redis.call('ZREM', leases, id)
  end
end

-- The nodes of a script on one lease, read from ARGV at position a (node keys are KEYS[3..n+2],
-- their window keys follow): per node ephemeral (1|0), with_limits: its limits tokens and
-- nano-dollars (-1 = none), then W and per window the lease's bucket start, whether that bucket
-- is live (1|0), the oldest live bucket's start, with_limits: the window's limits tokens and
-- nano-dollars.
local function lease_nodes(a, n, with_limits)
  local nodes, k = {}, n + 3
  for i = 1, n do
    local node = { key = KEYS[i + 2], ephemeral = ARGV[a] == '1', windows = {} }
    if with_limits then
      node.l_tokens, node.l_nanos = num(ARGV[a + 1]), num(ARGV[a + 2])
      a = a + 2
    end
    local count = num(ARGV[a + 1])
    a = a + 2
    for j = 1, count do
      local w = { key = KEYS[k], start = ARGV[a], live = ARGV[a + 1] == '1', oldest = num(ARGV[a + 2]) }
      a = a + 3
      if with_limits then
        w.l_tokens, w.l_nanos = num(ARGV[a]), num(ARGV[a + 1])
        a = a + 2
      end
      node.windows[j] = w
      k = k + 1
    end
    nodes[i] = node
  end
  return nodes
end

-- Appends the state of every node to a reply.
local function reply_nodes(head, nodes)
  for _, node in ipairs(nodes) do push_node(head, node.key, node.windows) end
  return head
end
`;

/**
 * Checks and reserves every limit of every node, and of every window of every node, at once.
 * KEYS: leases, lease, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: id, now, enforce (1|0), estimate tokens, estimate nano-dollars, ttl ms, N, refuse after
 *       (epoch ms on the server's clock; -1 = never), then per node ephemeral (1|0), the limits
 *       executions, concurrent, tokens, nano-dollars, wall ms (-1 = none), idle ms (-1 = keep for
 *       good), W, then per window the current bucket's start, the oldest live bucket's start, the
 *       current bucket's end of count (expiresAt), the limits executions, tokens, nano-dollars,
 *       and the start before which buckets are deleted (one window before the oldest live one).
 * Reply: status ('admitted' | 'denied' | 'duplicate' | 'expired'), violation resource ('' = none),
 *        violating node index (1-based), its window index (1-based; 0 = not a window), limit,
 *        used, requested, then node states. 'expired': the reservation arrived after its
 *        caller's deadline and changed nothing.
 */
export const RESERVE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, now, enforce = ARGV[1], num(ARGV[2]), ARGV[3] == '1'
local tokens, nanos, ttl, n, refuse_after = num(ARGV[4]), num(ARGV[5]), num(ARGV[6]), num(ARGV[7]), num(ARGV[8])
local reply

local nodes = {}
local a, k = 9, n + 3
for i = 1, n do
  local node = {
    key = KEYS[i + 2], ephemeral = ARGV[a], l_exec = num(ARGV[a + 1]), l_conc = num(ARGV[a + 2]), l_tokens = num(ARGV[a + 3]),
    l_nanos = num(ARGV[a + 4]), l_wall = num(ARGV[a + 5]), idle = num(ARGV[a + 6]), windows = {},
  }
  local count = num(ARGV[a + 7])
  a = a + 8
  for j = 1, count do
    node.windows[j] = {
      key = KEYS[k], start = ARGV[a], oldest = num(ARGV[a + 1]), ends = num(ARGV[a + 2]),
      l_exec = num(ARGV[a + 3]), l_tokens = num(ARGV[a + 4]), l_nanos = num(ARGV[a + 5]), prune = num(ARGV[a + 6]),
    }
    k = k + 1
    a = a + 7
  end
  nodes[i] = node
end

local function reply_with(head)
  for _, node in ipairs(nodes) do push_node(head, node.key, node.windows) end
  return head
end

if redis.call('EXISTS', lease) == 1 then
  -- The same reservation delivered twice (a client resend after a reconnect): reserve once.
  return reply_with({'duplicate', '', 0, 0, 0, 0, 0})
end

local arrived = server_ms()
if refuse_after >= 0 and arrived > refuse_after then
  -- Its caller has given up by now: reserve nothing, so that no budget is held for nobody.
  return reply_with({'expired', '', 0, 0, 0, 0, 0})
end

sweep(leases, arrived)

local v_resource, v_index, v_window, v_limit, v_used, v_requested
for i, node in ipairs(nodes) do
  if v_resource then break end
  local _, s = read_node(node.key)
  local started = s[8]
  if node.l_wall >= 0 and started >= 0 and now - started >= node.l_wall then
    v_resource, v_limit, v_used, v_requested = 'wallTimeMs', node.l_wall, now - started, 0
  elseif node.l_exec >= 0 and s[1] + s[4] + 1 > node.l_exec then
    v_resource, v_limit, v_used, v_requested = 'executions', node.l_exec, s[1] + s[4], 1
  elseif node.l_conc >= 0 and s[7] + 1 > node.l_conc then
    v_resource, v_limit, v_used, v_requested = 'concurrent', node.l_conc, s[7], 1
  elseif node.l_tokens >= 0 and (s[2] + s[5] >= node.l_tokens or s[2] + s[5] + tokens > node.l_tokens) then
    v_resource, v_limit, v_used, v_requested = 'tokens', node.l_tokens, s[2] + s[5], tokens
  elseif node.l_nanos >= 0 and (s[3] + s[6] >= node.l_nanos or s[3] + s[6] + nanos > node.l_nanos) then
    v_resource, v_limit, v_used, v_requested = 'costUsd', node.l_nanos, s[3] + s[6], nanos
  end
  for j, w in ipairs(node.windows) do
    if v_resource then break end
    local t = window_totals(read_window(w.key, w.oldest, w.prune))
    if w.l_exec >= 0 and t[1] + t[4] + 1 > w.l_exec then
      v_resource, v_limit, v_used, v_requested = 'executions', w.l_exec, t[1] + t[4], 1
    elseif w.l_tokens >= 0 and (t[2] + t[5] >= w.l_tokens or t[2] + t[5] + tokens > w.l_tokens) then
      v_resource, v_limit, v_used, v_requested = 'tokens', w.l_tokens, t[2] + t[5], tokens
    elseif w.l_nanos >= 0 and (t[3] + t[6] >= w.l_nanos or t[3] + t[6] + nanos > w.l_nanos) then
      v_resource, v_limit, v_used, v_requested = 'costUsd', w.l_nanos, t[3] + t[6], nanos
    end
    if v_resource then v_window = j end
  end
  if v_resource then v_index = i end
end

if v_resource and enforce then
  return reply_with({'denied', v_resource, v_index, v_window or 0, v_limit, v_used, v_requested})
end

local lease_fields = {'ht', tokens, 'hc', nanos, 'sq', 0, 'st', 0, 'n', n}
local counted = 0
for i, node in ipairs(nodes) do
  local key = node.key
  redis.call('HSETNX', key, 's', now)
  add(key, 're', 1)
  add(key, 'rk', 1)
  add(key, 'rt', tokens)
  add(key, 'rc', nanos)
  lease_fields[#lease_fields + 1] = 'k' .. i
  lease_fields[#lease_fields + 1] = node.ephemeral .. key
  if node.ephemeral ~= '1' then
    -- In flight: kept until its last run ends.
    redis.call('PERSIST', key)
    if node.idle >= 0 then redis.call('HSET', key, 'i', node.idle) else redis.call('HDEL', key, 'i') end
  end
  local latest = num(redis.call('HGET', key, 'x')) or 0
  for _, w in ipairs(node.windows) do
    add(w.key, w.start .. ':re', 1)
    add(w.key, w.start .. ':rt', tokens)
    add(w.key, w.start .. ':rc', nanos)
    expire_no_sooner(w.key, w.ends + EXPIRY_SLACK_MS)
    if w.ends > latest then latest = w.ends end
    counted = counted + 1
    lease_fields[#lease_fields + 1] = 'w' .. counted
    lease_fields[#lease_fields + 1] = w.ends .. '|' .. w.start .. '|' .. w.key
  end
  if latest > 0 then redis.call('HSET', key, 'x', latest) end
end
lease_fields[#lease_fields + 1] = 'nw'
lease_fields[#lease_fields + 1] = counted
redis.call('HSET', lease, unpack(lease_fields))
redis.call('ZADD', leases, server_ms() + ttl, id)

return reply_with({'admitted', v_resource or '', v_index or 0, v_window or 0, v_limit or 0, v_used or 0, v_requested or 0})
`;

/**
 * Charges usage to a lease's nodes, out of what the lease still holds first, and extends the
 * lease (a charge proves its run is alive). Each charge number is applied once, in any order.
 * A window counts the charge only if the lease's bucket is still live at the client's `now`.
 * KEYS: leases, lease, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: id, tokens, nano-dollars, charge sequence number, ttl ms, N, then per node ephemeral
 *       (1|0), the limits tokens, nano-dollars (-1 = none), W, then per window the lease's bucket
 *       start, whether that bucket is live (1|0), the oldest live bucket's start, and the limits
 *       tokens, nano-dollars.
 * Reply: status ('charged' | 'duplicate'), overshoot resource ('' = none), node index, window
 *        index (0 = none), limit, used, requested, then node states.
 */
export const CHARGE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, tokens, nanos, seq, ttl, n = ARGV[1], num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), num(ARGV[5]), num(ARGV[6])
local reply
local from_tokens, from_nanos = 0, 0

local nodes = lease_nodes(7, n, true)
local function reply_with(head) return reply_nodes(head, nodes) end

local h = redis.call('HMGET', lease, 'ht', 'hc', 'sq', 'st')
if h[3] then
  local last = num(h[3])
  if seq <= last then
    -- Applied already, unless it was skipped (a later charge landed first): then its gap mark is here.
    if redis.call('HDEL', lease, 'g' .. seq) == 0 then return reply_with({'duplicate', '', 0, 0, 0, 0, 0}) end
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
local v_resource, v_index, v_window, v_limit, v_used, v_requested
for i, node in ipairs(nodes) do
  local key = node.key
  -- Late usage recreates nothing: not a run budget whose runs all ended, nor a scope that expired
  -- once idle (its lease is gone too; it would come back with no expiry). A scope lost while its
  -- lease lives (a failover) is counted again.
  if redis.call('EXISTS', key) == 1 or (h[3] and h[4] ~= '1' and not node.ephemeral) then
    add(key, 'rt', -from_tokens)
    add(key, 'rc', -from_nanos)
    local used_tokens = redis.call('HINCRBY', key, 'ut', tokens)
    local used_nanos = redis.call('HINCRBY', key, 'uc', nanos)
    if beyond and not v_resource then
      local r = redis.call('HMGET', key, 'rt', 'rc')
      local held_tokens = used_tokens + (num(r[1]) or 0)
      local held_nanos = used_nanos + (num(r[2]) or 0)
      if node.l_tokens >= 0 and held_tokens > node.l_tokens then
        v_resource, v_index, v_limit, v_used, v_requested = 'tokens', i, node.l_tokens, held_tokens - tokens, tokens
      elseif node.l_nanos >= 0 and held_nanos > node.l_nanos then
        v_resource, v_index, v_limit, v_used, v_requested = 'costUsd', i, node.l_nanos, held_nanos - nanos, nanos
      end
    end
  end
  for j, w in ipairs(node.windows) do
    -- A bucket that has left its window (or was already deleted) counts nothing any more.
    if w.live and redis.call('HEXISTS', w.key, w.start .. ':re') == 1 then
      add(w.key, w.start .. ':rt', -from_tokens)
      add(w.key, w.start .. ':rc', -from_nanos)
      add(w.key, w.start .. ':ut', tokens)
      add(w.key, w.start .. ':uc', nanos)
      if beyond and not v_resource then
        local t = window_totals(read_window(w.key, w.oldest))
        if w.l_tokens >= 0 and t[2] + t[5] > w.l_tokens then
          v_resource, v_index, v_window, v_limit, v_used, v_requested = 'tokens', i, j, w.l_tokens, t[2] + t[5] - tokens, tokens
        elseif w.l_nanos >= 0 and t[3] + t[6] > w.l_nanos then
          v_resource, v_index, v_window, v_limit, v_used, v_requested = 'costUsd', i, j, w.l_nanos, t[3] + t[6] - nanos, nanos
        end
      end
    end
  end
end

return reply_with({'charged', v_resource or '', v_index or 0, v_window or 0, v_limit or 0, v_used or 0, v_requested or 0})
`;

/**
 * Holds more on a live lease (the worst case of one model call): checks the tokens and cost
 * limits of every node, and of every window whose bucket of the lease is live, and holds the
 * amount on all of them at once, or (enforcing) on none. Not resent on failure: a hold applied
 * after its caller gave up stays on the lease until the lease settles, which errs on the safe side.
 * KEYS: leases, lease, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: id, tokens, nano-dollars, enforce (1|0), ttl ms, N, then per node ephemeral (1|0), the
 *       limits tokens, nano-dollars (-1 = none), W, then per window the lease's bucket start,
 *       whether that bucket is live (1|0), the oldest live bucket's start, and the limits tokens,
 *       nano-dollars.
 * Reply: status ('held' | 'denied' | 'noop': the lease is settled or gone), violation resource
 *        ('' = none), node index, window index (0 = none), limit, used, requested, then node states.
 */
export const HOLD_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, tokens, nanos, enforce, ttl, n = ARGV[1], num(ARGV[2]), num(ARGV[3]), ARGV[4] == '1', num(ARGV[5]), num(ARGV[6])

local nodes = lease_nodes(7, n, true)
local function reply_with(head) return reply_nodes(head, nodes) end

local h = redis.call('HMGET', lease, 'st', 'n')
if not h[2] or h[1] == '1' then return reply_with({'noop', '', 0, 0, 0, 0, 0}) end

local v_resource, v_index, v_window, v_limit, v_used, v_requested
for i, node in ipairs(nodes) do
  if v_resource then break end
  local _, s = read_node(node.key)
  local held_tokens, held_nanos = s[2] + s[5], s[3] + s[6]
  if node.l_tokens >= 0 and held_tokens + tokens > node.l_tokens then
    v_resource, v_index, v_window, v_limit, v_used, v_requested = 'tokens', i, 0, node.l_tokens, held_tokens, tokens
  elseif node.l_nanos >= 0 and held_nanos + nanos > node.l_nanos then
    v_resource, v_index, v_window, v_limit, v_used, v_requested = 'costUsd', i, 0, node.l_nanos, held_nanos, nanos
  else
    for j, w in ipairs(node.windows) do
      -- A window whose bucket of this lease has closed counts nothing of it any more.
      if w.live and redis.call('HEXISTS', w.key, w.start .. ':re') == 1 then
        local t = window_totals(read_window(w.key, w.oldest))
        if w.l_tokens >= 0 and t[2] + t[5] + tokens > w.l_tokens then
          v_resource, v_index, v_window, v_limit, v_used, v_requested = 'tokens', i, j, w.l_tokens, t[2] + t[5], tokens
        elseif w.l_nanos >= 0 and t[3] + t[6] + nanos > w.l_nanos then
          v_resource, v_index, v_window, v_limit, v_used, v_requested = 'costUsd', i, j, w.l_nanos, t[3] + t[6], nanos
        end
        if v_resource then break end
      end
    end
  end
end

local verdict = {v_resource or '', v_index or 0, v_window or 0, v_limit or 0, v_used or 0, v_requested or 0}
if v_resource and enforce then
  return reply_with({'denied', unpack(verdict)})
end

add(lease, 'ht', tokens)
add(lease, 'hc', nanos)
redis.call('ZADD', leases, 'XX', server_ms() + ttl, id)
for _, node in ipairs(nodes) do
  if redis.call('EXISTS', node.key) == 1 then
    add(node.key, 'rt', tokens)
    add(node.key, 'rc', nanos)
  end
  for _, w in ipairs(node.windows) do
    if w.live and redis.call('HEXISTS', w.key, w.start .. ':re') == 1 then
      add(w.key, w.start .. ':rt', tokens)
      add(w.key, w.start .. ':rc', nanos)
    end
  end
end
return reply_with({'held', unpack(verdict)})
`;

/**
 * Gives back up to an amount of what a live lease holds (what a model call's usage did not take
 * of its worst case), on its nodes and the live buckets it counts in.
 * KEYS: leases, lease, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: id, tokens, nano-dollars, N, then per node ephemeral (1|0), W, then per window the
 *       lease's bucket start, whether that bucket is live (1|0), and the oldest live bucket's start.
 * Reply: status ('released' | 'noop'), then node states.
 */
export const RELEASE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, tokens, nanos, n = ARGV[1], num(ARGV[2]), num(ARGV[3]), num(ARGV[4])

local nodes = lease_nodes(5, n, false)

local reply
local h = redis.call('HMGET', lease, 'ht', 'hc', 'st')
if not h[1] or h[3] == '1' then
  reply = {'noop'}
else
  local t, c = math.min(num(h[1]), tokens), math.min(num(h[2]), nanos)
  add(lease, 'ht', -t)
  add(lease, 'hc', -c)
  for _, node in ipairs(nodes) do
    if redis.call('EXISTS', node.key) == 1 then
      add(node.key, 'rt', -t)
      add(node.key, 'rc', -c)
    end
    for _, w in ipairs(node.windows) do
      if w.live and redis.call('HEXISTS', w.key, w.start .. ':re') == 1 then
        add(w.key, w.start .. ':rt', -t)
        add(w.key, w.start .. ':rc', -c)
      end
    end
  end
  reply = {'released'}
end
return reply_nodes(reply, nodes)
`;

/**
 * Releases what a lease holds and its slots; its execution becomes used ('settle') or is given
 * back ('cancel', for a reservation whose caller had already given up on it). Idempotent.
 * KEYS: leases, lease, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: id, mode ('settle' | 'cancel'), tombstone ttl ms, N, then per node ephemeral (1|0), W,
 *       then per window the lease's bucket start, whether that bucket is live (1|0), and the
 *       oldest live bucket's start.
 * Reply: status ('settled' | 'noop'), then node states.
 */
export const SETTLE_SCRIPT = `${COMMON}
local leases, lease = KEYS[1], KEYS[2]
local id, mode, ttl, n = ARGV[1], ARGV[2], num(ARGV[3]), num(ARGV[4])

local nodes = lease_nodes(5, n, false)

local reply
local h = redis.call('HMGET', lease, 'ht', 'hc', 'st')
if not h[1] or h[3] == '1' then
  reply = {'noop'}
else
  local tokens, nanos = num(h[1]), num(h[2])
  local count_execution = mode ~= 'cancel'
  for _, node in ipairs(nodes) do
    release(node.key, node.ephemeral, tokens, nanos, count_execution)
    for _, w in ipairs(node.windows) do
      if w.live then release_bucket(w.key, w.start, tokens, nanos, count_execution) end
    end
  end
  redis.call('ZREM', leases, id)
  redis.call('HSET', lease, 'ht', 0, 'hc', 0, 'st', 1)
  redis.call('PEXPIRE', lease, ttl)
  reply = {'settled'}
end
return reply_nodes(reply, nodes)
`;

/**
 * The background step for one hash tag: returns expired leases' holds, extends this process's
 * live leases, and reads nodes for the local view.
 * KEYS: leases, node1..nodeN, then the window keys of node 1, of node 2, ….
 * ARGV: ttl ms, M, lease id 1..M, N, then per node W and per window the oldest live bucket's start.
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
local a, k = 4 + m, n + 2
for i = 1, n do
  local windows = {}
  local count = num(ARGV[a])
  a = a + 1
  for j = 1, count do
    windows[j] = { key = KEYS[k], oldest = num(ARGV[a]) }
    k = k + 1
    a = a + 1
  end
  push_node(reply, KEYS[i + 1], windows)
end
return reply
`;
