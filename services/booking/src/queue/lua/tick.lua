-- One step of the queue, run by every booking replica a few times a second. Admission is
-- computed from elapsed time (a token bucket in q:state), so any number of replicas together
-- admit at the configured rate, and ZPOPMIN hands each waiting buyer out once. It seals the
-- pre-queue at opening, ends lapsed admissions, and admits only while seats are left: at most
-- the free seats not already spoken for by admitted buyers, never past max active.
-- KEYS: meta, q:state, q:line, q:active.  ARGV: seed candidate
local meta = queue_meta()
if not meta then return { 'NONE' } end
if not meta.enabled then return { 'OFF' } end
local now = now_ms()
if phase() == 'pre' and now >= tonumber(meta.opens) then seal(ARGV[1], now) end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1000)
for _, user in ipairs(lapsed) do end_admission(user, 'expired') end
if #lapsed > 0 then redis.call('HINCRBY', KEYS[2], 'lapsed', #lapsed) end
local free = 0
for _, zone in ipairs(redis.call('SMEMBERS', P .. 'zones')) do
  free = free + tonumber(redis.call('HGET', P .. 'zone:' .. zone, 'available') or '0')
end
local st = redis.call('HMGET', KEYS[2], 'tokens', 'last_ms', 'sample_ms')
local rate = tonumber(meta.rate)
local last = math.min(tonumber(st[2] or now), now)
local tokens = math.min(math.max(1, rate), tonumber(st[1] or '0') + (now - last) * rate / 1000)
local admitted = 0
local admitting = phase() == 'open' and meta.state == 'active' and now >= tonumber(meta.opens)
  and now < tonumber(meta.closes)
if admitting and free > 0 then
  local active = redis.call('ZCARD', KEYS[4])
  local room = math.min(math.floor(tokens), tonumber(meta.max_active) - active, free - active)
  if room > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[3], room)
    local expires = now + tonumber(meta.pass_ttl)
    local head
    for i = 1, #popped, 2 do
      redis.call('ZADD', KEYS[4], expires, popped[i])
      head = popped[i + 1]
    end
    admitted = #popped / 2
    if admitted > 0 then
      tokens = tokens - admitted
      redis.call('HSET', KEYS[2], 'head', head, 'last_admitted_ms', now)
      redis.call('HSETNX', KEYS[2], 'first_admitted_ms', now)
      redis.call('HSETNX', KEYS[2], 'first_batch', admitted)
      redis.call('HINCRBY', KEYS[2], 'admitted', admitted)
      redis.call('ZREMRANGEBYSCORE', q('gaps'), '-inf', head)
    end
  end
end
local soldout = '0'
if free <= 0 then soldout = '1' end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'last_ms', now, 'soldout', soldout)
if now - tonumber(st[3] or '0') >= 1000 then
  redis.call('LPUSH', q('drain'), now .. ':' .. (redis.call('HGET', KEYS[2], 'admitted') or '0'))
  redis.call('LTRIM', q('drain'), 0, 30)
  redis.call('HSET', KEYS[2], 'sample_ms', now)
end
return answer('ON', tostring(admitted), { '', '', '', '' }, meta, now)
