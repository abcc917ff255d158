-- A payment confirms a live hold: its seats become sold. An expired, cancelled or released hold
-- cannot be confirmed; the outcome names which, and a ConfirmRejected event asks for a refund.
-- A payment whose payer, amount or currency differ from the hold's is refused as `mismatch`.
-- KEYS: meta.  ARGV: reservation id, payment id, payer, amount (minor units), currency
local id, payment = ARGV[1], ARGV[2]
local h = load_hold(id)
local now = now_ms()
if not h then
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', int(now),
    'reason', 'unknown', 'id', id, 'payment_id', payment)
  return { 'REJECTED', 'unknown' }
end
if h.status == 'confirmed' then
  local by = redis.call('HGET', hold_key(id), 'payment_id')
  if by == payment then return { 'ALREADY_CONFIRMED' } end
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', int(now),
    'reason', 'confirmed', 'id', id, 'payment_id', payment)
  return { 'REJECTED', 'confirmed' }
end
if h.status == 'held' and (h.user ~= ARGV[3] or h.amount ~= ARGV[4] or h.currency ~= ARGV[5]) then
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', int(now),
    'reason', 'mismatch', 'id', id, 'payment_id', payment)
  return { 'REJECTED', 'mismatch' }
end
expire_if_due(id, h, now)
local status = redis.call('HGET', hold_key(id), 'status')
if status ~= 'held' then
  redis.call('XADD', P .. 'outbox', '*', 'type', 'ConfirmRejected', 'at', int(now),
    'reason', status, 'id', id, 'payment_id', payment)
  return { 'REJECTED', status }
end
redis.call('HSET', hold_key(id), 'payment_id', payment)
settle(id, h, 'confirmed')
emit('ReservationConfirmed', id, now)
return { 'OK' }
