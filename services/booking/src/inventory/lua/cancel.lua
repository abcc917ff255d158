-- The owner cancels a live hold; its seats return.  KEYS: meta.  ARGV: reservation id, user
local h = load_hold(ARGV[1])
if not h or h.user ~= ARGV[2] then return { 'NOT_FOUND' } end
local now = now_ms()
if expire_if_due(ARGV[1], h, now) then return { 'NOT_HELD', 'expired' } end
if h.status ~= 'held' then return { 'NOT_HELD', h.status } end
settle(ARGV[1], h, 'cancelled')
emit('ReservationCancelled', ARGV[1], now)
return { 'OK' }
