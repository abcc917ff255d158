-- A buyer leaves the queue: their ticket becomes a gap the buyers behind them move up past, and
-- an admission (with its pass) ends.
-- KEYS: meta, q:state, q:tickets, q:line.  ARGV: user
local meta = queue_meta()
if not meta then return { 'SALE_NOT_FOUND' } end
if not meta.enabled then return { 'QUEUE_DISABLED' } end
local user = ARGV[1]
local entry = redis.call('HGET', KEYS[3], user)
if not entry then return { 'NOT_FOUND' } end
if entry == 'pre' then
  -- Once sealed, the pre-queue is the shuffle's input and stays as it is; the place script
  -- turns a departed buyer's ticket into a gap.
  if phase() == 'pre' then redis.call('ZREM', q('pre'), user) end
  redis.call('HDEL', KEYS[3], user)
  redis.call('HSET', q('ended'), user, 'left')
elseif redis.call('ZREM', KEYS[4], user) == 1 then
  redis.call('ZADD', q('gaps'), entry, entry)
  redis.call('HINCRBY', KEYS[2], 'gaps_ver', 1)
  redis.call('HDEL', KEYS[3], user)
  redis.call('HSET', q('ended'), user, 'left')
else
  end_admission(user, 'left')
end
return { 'OK' }
