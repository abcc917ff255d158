-- A buyer's place in the queue, and the pass once they are admitted.
-- KEYS: meta, q:state, q:tickets.  ARGV: user, pass candidate
local meta = queue_meta()
if not meta then return { 'SALE_NOT_FOUND' } end
if not meta.enabled then return { 'QUEUE_DISABLED' } end
local now = now_ms()
return answer('OK', '0', entry_view(ARGV[1], now, ARGV[2]), meta, now)
