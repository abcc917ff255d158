-- A refunded payment returns the seats its confirmation sold. Only the payment that confirmed
-- the reservation can undo it; for any other payment (one the booking refused, say) nothing
-- changes.  KEYS: meta.  ARGV: reservation id, payment id
local id, payment = ARGV[1], ARGV[2]
local h = load_hold(id)
if not h then return { 'UNKNOWN' } end
if h.status ~= 'confirmed' then return { 'NOT_CONFIRMED', h.status } end
if redis.call('HGET', hold_key(id), 'payment_id') ~= payment then return { 'OTHER_PAYMENT' } end
local now = now_ms()
redis.call('HINCRBY', P .. 'zone:' .. h.zone, 'sold', -h.qty)
give_back(id, h)
redis.call('HSET', hold_key(id), 'status', 'refunded')
emit('ReservationRefunded', id, now)
return { 'OK' }
