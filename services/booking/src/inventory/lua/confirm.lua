-- A payment confirms a live hold: its seats become sold. An expired, cancelled or released hold
-- cannot be confirmed; the outcome names which, and a ConfirmRejected event asks for a refund.
-- KEYS: meta.  ARGV: reservation id, payment id
local id, payment = ARGV[1], ARGV[2]
local h = load_hold(id)
local now = now_ms()
if not h then
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', tostring(now),
    'reason', 'unknown', 'id', id, 'payment_id', payment)
  return { 'REJECTED', 'unknown' }
end
if h.status == 'confirmed' then
  local by = redis.call('HGET', hold_key(id), 'payment_id')
  if by == payment then return { 'ALREADY_CONFIRMED' } end
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', tostring(now),
    'reason', 'confirmed', 'id', id, 'payment_id', payment)
  return { 'REJECTED', 'confirmed' }
end
expire_if_due(id, h, now)
local status = redis.call('HGET', hold_key(id), 'status')
if status ~= 'held' then
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', tostring(now),
    'reason', status, 'id', id, 'payment_id', payment)
  return { 'REJECTED', status }
end
redis.call('HSET', hold_key(id), 'payment_id', payment)
settle(id, h, 'confirmed', now)
emit('ReservationConfirmed', id, now)
return { 'OK' }
