-- Undoes a reserve whose ReservationCreated could not be published, so the client may retry --
-- unless a replay of the same request has published it meanwhile, in which case it stands.
-- KEYS: meta, idempotency.  ARGV: reservation id
local h = load_hold(ARGV[1])
if not h or h.status ~= 'held' then return { 'NOT_HELD' } end
if redis.call('HGET', hold_key(ARGV[1]), 'published') then return { 'PUBLISHED' } end
local now = now_ms()
settle(ARGV[1], h, 'released', now)
emit('ReservationReleased', ARGV[1], now, 'publish_failed')
redis.call('DEL', KEYS[2])
return { 'OK' }
