-- A replayed request published the reservation's creation: marks it, so a failing original
-- request no longer releases it. Refused when the hold was already released for that failure.
-- KEYS: meta.  ARGV: reservation id
local h = load_hold(ARGV[1])
if not h then return { 'GONE' } end
if h.status == 'released' then return { 'RELEASED' } end
redis.call('HSET', hold_key(ARGV[1]), 'published', '1')
return { 'OK' }
