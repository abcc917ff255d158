-- Writes one slice of the shuffled pre-queue: tickets offset + 1 onwards, in the order given.
-- Every replica computes the same order from the stored seed, so a slice written twice is
-- refused (`placed` moved on) and never differs. A buyer who left meanwhile leaves a gap.
-- Each slice is appended to the outbox as a QueueShuffled event, for the audit record.
-- KEYS: meta, q:state, q:line, q:tickets.  ARGV: seed, offset, then per buyer: user, joined rank
local st = redis.call('HMGET', KEYS[2], 'phase', 'seed', 'placed', 'pre_total')
if st[1] ~= 'sealed' or st[2] ~= ARGV[1] or st[3] ~= ARGV[2] then
  return { 'SKIP', st[1] or 'pre', st[3] or '0' }
end
local offset = tonumber(ARGV[2])
local total = tonumber(st[4])
local now = now_ms()
local users, ranks = {}, {}
local gaps = 0
for i = 3, #ARGV - 1, 2 do
  local user = ARGV[i]
  local ticket = offset + #users + 1
  redis.call('RPUSH', q('order'), user)
  if redis.call('HGET', KEYS[4], user) == 'pre' then
    redis.call('HSET', KEYS[4], user, ticket)
    redis.call('ZADD', KEYS[3], ticket, user)
  else
    redis.call('ZADD', q('gaps'), ticket, ticket)
    gaps = gaps + 1
  end
  table.insert(users, user)
  table.insert(ranks, ARGV[i + 1])
end
local placed = offset + #users
if gaps > 0 then redis.call('HINCRBY', KEYS[2], 'gaps_ver', 1) end
redis.call('HSET', KEYS[2], 'placed', placed)
local next_phase = 'sealed'
if placed >= total then
  next_phase = 'open'
  redis.call('HSET', KEYS[2], 'phase', 'open', 'opened_at', now)
  redis.call('DEL', q('pre'))
end
redis.call('XADD', P .. 'outbox', '*', 'type', 'QueueShuffled', 'at', tostring(now), 'seed', ARGV[1],
  'total', tostring(total), 'offset', ARGV[2], 'users', table.concat(users, ','),
  'ranks', table.concat(ranks, ','))
return { 'OK', next_phase, tostring(placed) }
