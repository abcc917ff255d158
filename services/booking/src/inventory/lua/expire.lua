-- Expires up to ARGV[1] holds whose time is up. Atomic, so replicas sweeping at once never
-- release a hold twice.  KEYS: meta, expiries.  ARGV: limit
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local expired = 0
for _, id in ipairs(due) do
  local h = load_hold(id)
  if h and expire_if_due(id, h, now) then
    expired = expired + 1
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return { expired, #due }
