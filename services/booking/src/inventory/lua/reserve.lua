-- Reserve: sale open, idempotency, queue pass, per-user cap, availability, then the hold --
-- atomically. With the sale's queue on, a live pass of this buyer is required and used up.
-- KEYS: meta, zone, idempotency, userqty, expiries, hold[, queue pass, queue active set]
-- ARGV: user, zone id, quantity, idempotency fingerprint, reservation id, idempotency ttl ms[, pass]
-- A new hold answers OK, its amount, currency, expiry and creation time; the caller chose its id,
-- which names its key and is not repeated among its fields.
local prior = redis.call('GET', KEYS[3])
if prior then
  local sep = string.find(prior, '|', 1, true)
  local rid = string.sub(prior, 1, sep - 1)
  if string.sub(prior, sep + 1) ~= ARGV[4] then return { 'IDEMPOTENCY_MISMATCH', rid } end
  return { 'REPLAY', rid }
end
local meta = redis.call('HMGET', KEYS[1], 'opens_at_ms', 'closes_at_ms', 'hold_ttl_ms', 'state', 'queue_enabled')
if not meta[1] then return { 'SALE_NOT_FOUND' } end
if meta[4] ~= 'active' then return { 'SALE_SUSPENDED' } end
local now = now_ms()
if now < tonumber(meta[1]) then return { 'SALE_NOT_OPEN', meta[1] } end
if now >= tonumber(meta[2]) then return { 'SALE_CLOSED', meta[2] } end
local pass
if meta[5] == '1' then
  if not KEYS[7] then return { 'QUEUE_PASS_REQUIRED' } end
  pass = redis.call('HMGET', KEYS[7], 'user', 'exp')
  if pass[1] ~= ARGV[1] or not pass[2] or tonumber(pass[2]) <= now then return { 'QUEUE_PASS_INVALID' } end
end
local z = redis.call('HMGET', KEYS[2], 'available', 'price_minor', 'currency', 'per_user_cap')
if not z[1] then return { 'ZONE_NOT_FOUND' } end
local qty = tonumber(ARGV[3])
local field = ARGV[2] .. ':' .. ARGV[1]
local mine = tonumber(redis.call('HGET', KEYS[4], field) or '0')
local cap = tonumber(z[4])
if mine + qty > cap then return { 'USER_CAP', int(cap - mine) } end
if tonumber(z[1]) < qty then return { 'SOLD_OUT', z[1] } end
-- Every check passed; the idempotency key is the first write, so a failing write leaves no
-- half-made hold behind without its key. Numbers are turned into strings once, as integers:
-- Lua's `tostring` formats a double with printf's `%.14g`, which costs several times what
-- `%d` does.
local expires = now + tonumber(meta[3])
local now_s, expires_s, amount_s = int(now), int(expires), int(qty * tonumber(z[2]))
redis.call('SET', KEYS[3], ARGV[5] .. '|' .. ARGV[4], 'PX', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'available', '-' .. ARGV[3])
redis.call('HINCRBY', KEYS[2], 'held', ARGV[3])
redis.call('HINCRBY', KEYS[4], field, ARGV[3])
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
