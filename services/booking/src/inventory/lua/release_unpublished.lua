-- Undoes a reserve whose ReservationCreated could not be published, so the client may retry --
-- unless a replay of the same request has published it meanwhile, in which case it stands. A
-- queue pass the reserve used is given back while it is still within its lifetime.
-- KEYS: meta, idempotency.  ARGV: reservation id
local h = load_hold(ARGV[1])
if not h or h.status ~= 'held' then return { 'NOT_HELD' } end
if redis.call('HGET', hold_key(ARGV[1]), 'published') then return { 'PUBLISHED' } end
local now = now_ms()
settle(ARGV[1], h, 'released')
emit('ReservationReleased', ARGV[1], now, 'publish_failed')
redis.call('DEL', KEYS[2])
local used = redis.call('HMGET', hold_key(ARGV[1]), 'qpass', 'qpass_exp', 'qticket')
if used[1] and tonumber(used[2]) > now then
  redis.call('HSET', pass_key(used[1]), 'user', h.user, 'exp', used[2])
  redis.call('PEXPIREAT', pass_key(used[1]), used[2])
  redis.call('ZADD', q('active'), used[2], h.user)
  redis.call('HSET', q('passes'), h.user, used[1])
  redis.call('HSETNX', q('tickets'), h.user, used[3])
  redis.call('HDEL', q('ended'), h.user)
end
return { 'OK' }
