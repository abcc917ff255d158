-- Reserve: sale open, queue pass, availability, idempotency, per-user cap, then the hold --
-- atomically; an earlier answer under the idempotency key wins over any refusal. With the sale's
-- queue on, a live pass of this buyer is required and used up.
-- KEYS: meta, zone, idempotency, userqty, expiries, hold[, queue pass, queue active set]
-- ARGV: user, zone id, quantity, idempotency fingerprint, reservation id, idempotency ttl ms[, pass]
-- A new hold answers OK, its amount, currency, expiry and creation time; the caller chose its id,
-- which names its key and is not repeated among its fields.
local meta = redis.call('HMGET', KEYS[1], 'opens_at_ms', 'closes_at_ms', 'hold_ttl_ms', 'state', 'queue_enabled')
if not meta[1] then return refuse({ 'SALE_NOT_FOUND' }) end
if meta[4] ~= 'active' then return refuse({ 'SALE_SUSPENDED' }) end
local now = now_ms()
if now < num(meta[1]) then return refuse({ 'SALE_NOT_OPEN', meta[1] }) end
if now >= num(meta[2]) then return refuse({ 'SALE_CLOSED', meta[2] }) end
local pass
if meta[5] == '1' then
  if not KEYS[7] then return refuse({ 'QUEUE_PASS_REQUIRED' }) end
  pass = redis.call('HMGET', KEYS[7], 'user', 'exp')
  if pass[1] ~= ARGV[1] or not pass[2] or tonumber(pass[2]) <= now then return refuse({ 'QUEUE_PASS_INVALID' }) end
end
local z = redis.call('HMGET', KEYS[2], 'available', 'price_minor', 'currency', 'per_user_cap')
if not z[1] then return refuse({ 'ZONE_NOT_FOUND' }) end
local qty = num(ARGV[3])
local field = ARGV[2] .. ':' .. ARGV[1]
local cap = num(z[4])
if tonumber(z[1]) < qty then
  -- Too few seats; a buyer who is also at their cap hears about the cap.
  local mine = tonumber(redis.call('HGET', KEYS[4], field) or '0')
  if mine + qty > cap then return refuse({ 'USER_CAP', int(cap - mine) }) end
  return refuse({ 'SOLD_OUT', z[1] })
end
-- The idempotency key is claimed only now, when nothing but the cap can still refuse, by the
-- command that also reads an earlier answer: a reserve that succeeds reads and writes the key in
-- one call. A refusal above reads it instead, so a retry still hears its first answer.
local prior = redis.call('SET', KEYS[3], ARGV[5] .. '|' .. ARGV[4], 'NX', 'GET', 'PX', ARGV[6])
if prior then return replay(prior) end
-- The buyer's count is taken and checked in one command, and given back (with the key) when it
-- passes the cap: a reserve that succeeds makes one call fewer than reading the count first would.
local mine = redis.call('HINCRBY', KEYS[4], field, ARGV[3])
if mine > cap then
  uncount(field, qty)
  redis.call('DEL', KEYS[3])
  return { 'USER_CAP', int(cap - mine + qty) }
end
-- Every check passed. Numbers are turned into strings once, as integers: Lua's `tostring`
-- formats a double with printf's `%.14g`, which costs several times what `%d` does; one seat
-- costs the zone's price as it is stored.
local expires = now + num(meta[3])
local now_s, expires_s = int(now), int(expires)
local amount_s = qty == 1 and z[2] or int(qty * num(z[2]))
redis.call('HINCRBY', KEYS[2], 'available', '-' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 'held', ARGV[3])
redis.call('HSET', KEYS[6], 'user', ARGV[1], 'zone', ARGV[2], 'qty', ARGV[3],
  'amount_minor', amount_s, 'currency', z[3], 'status', 'held',
  'created_at_ms', now_s, 'expires_at_ms', expires_s)
redis.call('ZADD', KEYS[5], expires_s, ARGV[5])
if pass then
  -- The pass is used up with the hold; it is kept on the hold so that a release after a failed
  -- publish can give it back.
  redis.call('HSET', KEYS[6], 'qpass', ARGV[7], 'qpass_exp', pass[2], 'qticket', redis.call('HGET', q('tickets'), ARGV[1]) or '')
  redis.call('DEL', KEYS[7])
  redis.call('ZREM', KEYS[8], ARGV[1])
  end_admission(ARGV[1], 'used')
end
return { 'OK', amount_s, z[3], expires_s, now_s }
