-- Booking's Redis function library (see `library.rs`), first part: what its functions share.
-- Redis runs this part once, when the library is loaded. `register` adds a function named
-- LIBRARY_<name>; each call of it sees its keys and arguments as KEYS and ARGV, as a script
-- would. KEYS[1] is always the sale's meta key ("sale:{S}:meta"); every other key of the sale
-- is derived from its prefix P, so all keys a function touches share the {S} hash tag and
-- live in one Redis Cluster slot.
local KEYS, ARGV, P
local RETENTION_MS = 86400000

local function register(name, body)
  redis.register_function(LIBRARY .. '_' .. name, function(keys, args)
    KEYS, ARGV, P = keys, args, string.sub(keys[1], 1, -5)
    return body()
  end)
end

-- An integral number as a string: `%d`, not `tostring`'s `%.14g`, which is slower and turns
-- numbers of 15 digits or more into exponents.
local function int(n)
  return string.format('%d', n)
end

-- A number read from Redis, parsed once: Lua's `tonumber` calls `strtod`, about a thousand
-- instructions, and the strings a reserve parses (the sale's window and hold time, a zone's price
-- and cap, the current second) are the same call after call. The memo is the library's own, kept
-- between calls and emptied when it reaches 256 strings; a string always parses to the same
-- number, so it can never answer a stale one. Strings that change with every call (a zone's
-- available seats, the clock's microseconds) are parsed with `tonumber`.
local parsed, parsed_count = {}, 0
local function num(s)
  local n = parsed[s]
  if n then return n end
  n = tonumber(s)
  if parsed_count >= 256 then parsed, parsed_count = {}, 0 end
  parsed[s], parsed_count = n, parsed_count + 1
  return n
end

local function now_ms()
  local t = redis.call('TIME')
  return num(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function hold_key(id)
  return P .. 'hold:' .. id
end

local function load_hold(id)
  local v = redis.call('HMGET', hold_key(id), 'user', 'zone', 'qty', 'status', 'expires_at_ms', 'amount_minor', 'currency')
  if not v[1] then return nil end
  return { user = v[1], zone = v[2], qty = tonumber(v[3]), status = v[4], expires = tonumber(v[5]),
           amount = v[6], currency = v[7] }
end

-- A reserve's earlier answer, kept under its idempotency key (KEYS[3]) as "<reservation id>|<request
-- fingerprint>": the same request (fingerprint ARGV[4]) hears it replayed, a different one under
-- the same key hears of the mismatch. Only reserve uses this and `refuse`; they live here, made
-- once when the library loads, because functions defined in reserve's body are made anew per call.
local function replay(prior)
  local sep = string.find(prior, '|', 1, true)
  local rid = string.sub(prior, 1, sep - 1)
  if string.sub(prior, sep + 1) ~= ARGV[4] then return { 'IDEMPOTENCY_MISMATCH', rid } end
  return { 'REPLAY', rid }
end

-- A reserve's refusal, unless its idempotency key already answered: a retry of a reserve that
-- succeeded hears that success again, whatever has changed since.
local function refuse(answer)
  local prior = redis.call('GET', KEYS[3])
  if prior then return replay(prior) end
  return answer
end

-- Appends the hold's full snapshot to the sale's outbox, in the same atomic step as the change.
-- The hold's id is its key's, not one of its fields.
local function emit(event_type, id, now, extra)
  local fields = redis.call('HGETALL', hold_key(id))
  redis.call('XADD', P .. 'outbox', '*', 'type', event_type, 'at', int(now), 'reason', extra or '', 'id', id, unpack(fields))
end

-- Takes `qty` seats off a buyer's count in a zone (`field` is "<zone>:<user>"); a count that
-- reaches zero is removed.
local function uncount(field, qty)
  if redis.call('HINCRBY', P .. 'userqty', field, -qty) <= 0 then
    redis.call('HDEL', P .. 'userqty', field)
  end
end

-- Returns a reservation's seats to the zone and to its buyer's cap; the hold record lingers
-- for reads, then expires.
local function give_back(id, h)
  redis.call('HINCRBY', P .. 'zone:' .. h.zone, 'available', h.qty)
  uncount(h.zone .. ':' .. h.user, h.qty)
  redis.call('PEXPIRE', hold_key(id), RETENTION_MS)
end

-- Ends a held reservation: confirmed seats become sold, any other end returns them.
local function settle(id, h, status)
  local zk = P .. 'zone:' .. h.zone
  redis.call('HINCRBY', zk, 'held', -h.qty)
  if status == 'confirmed' then
    redis.call('HINCRBY', zk, 'sold', h.qty)
  else
    give_back(id, h)
  end
  redis.call('ZREM', P .. 'expiries', id)
  redis.call('HSET', hold_key(id), 'status', status)
end

-- Expires a held reservation whose time is up; returns true when it did.
local function expire_if_due(id, h, now)
  if h.status == 'held' and now >= h.expires then
    settle(id, h, 'expired')
    emit('ReservationExpired', id, now)
    return true
  end
  return false
end

-- The sale's virtual queue (see the queue module) keeps its keys under the same prefix.
local function q(name)
  return P .. 'q:' .. name
end

local function pass_key(pass)
  return P .. 'qpass:' .. pass
end

-- Ends a buyer's admission: their pass (if one was handed out) is gone, their queue entry is
-- closed and remembered as `outcome` (used, expired or left).
local function end_admission(user, outcome)
  redis.call('ZREM', q('active'), user)
  local pass = redis.call('HGET', q('passes'), user)
  if pass then
    redis.call('DEL', pass_key(pass))
    redis.call('HDEL', q('passes'), user)
  end
  redis.call('HDEL', q('tickets'), user)
  redis.call('HSET', q('ended'), user, outcome)
end
