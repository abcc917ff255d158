-- A buyer joins the queue: once per account (joining again answers the same entry). Before the
-- sale opens they enter the pre-queue, which is shuffled at opening; after it, they take the
-- next ticket, behind everyone already in line.
-- KEYS: meta, q:state, q:tickets, q:line, q:pre.  ARGV: user, seed candidate, pass candidate
local meta = queue_meta()
if not meta then return { 'SALE_NOT_FOUND' } end
if not meta.enabled then return { 'QUEUE_DISABLED' } end
if meta.state ~= 'active' then return { 'SALE_SUSPENDED' } end
local now = now_ms()
if now >= tonumber(meta.closes) then return { 'SALE_CLOSED' } end
local user = ARGV[1]
local created = '0'
if not redis.call('HGET', KEYS[3], user) then
  created = '1'
  if now < tonumber(meta.opens) and phase() == 'pre' then
    redis.call('ZADD', KEYS[5], redis.call('HINCRBY', KEYS[2], 'preseq', 1), user)
    redis.call('HSET', KEYS[3], user, 'pre')
  else
    if phase() == 'pre' then seal(ARGV[2], now) end
    local ticket = redis.call('HINCRBY', KEYS[2], 'next', 1)
    redis.call('ZADD', KEYS[4], ticket, user)
    redis.call('HSET', KEYS[3], user, ticket)
  end
  redis.call('HDEL', q('ended'), user)
end
return answer('OK', created, entry_view(user, now, ARGV[3]), meta, now)
