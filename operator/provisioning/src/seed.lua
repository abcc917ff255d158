-- Seeds or updates one sale atomically. Counters of existing zones are never reset: a capacity
-- change moves capacity and available by the difference, refused if fewer seats would remain
-- than are held and sold.
-- KEYS: meta, zones set, outbox.  ARGV: opens_ms, closes_ms, hold_ttl_ms, queue enabled (1/0),
-- queue admissions per second, queue max active, queue pass ttl ms, then per zone:
-- id, capacity, price_minor, currency, per_user_cap
local P = string.sub(KEYS[1], 1, -5)
local refused = {}
for i = 8, #ARGV, 5 do
  local zk = P .. 'zone:' .. ARGV[i]
  local capacity = tonumber(ARGV[i + 1])
  local current = redis.call('HMGET', zk, 'capacity', 'available')
  if current[1] then
    local delta = capacity - tonumber(current[1])
    if tonumber(current[2]) + delta < 0 then
      table.insert(refused, ARGV[i])
      table.insert(refused, tostring(tonumber(current[1]) - tonumber(current[2])))
    end
  end
end
if #refused > 0 then return { 'REFUSED', unpack(refused) } end
for i = 8, #ARGV, 5 do
  local zk = P .. 'zone:' .. ARGV[i]
  local capacity = tonumber(ARGV[i + 1])
  local old = redis.call('HGET', zk, 'capacity')
  if old then
    local delta = capacity - tonumber(old)
    redis.call('HINCRBY', zk, 'capacity', delta)
    redis.call('HINCRBY', zk, 'available', delta)
  else
    redis.call('HSET', zk, 'capacity', capacity, 'available', capacity, 'held', 0, 'sold', 0)
  end
  redis.call('HSET', zk, 'price_minor', ARGV[i + 2], 'currency', ARGV[i + 3], 'per_user_cap', ARGV[i + 4])
  redis.call('SADD', KEYS[2], ARGV[i])
end
redis.call('HSET', KEYS[1], 'opens_at_ms', ARGV[1], 'closes_at_ms', ARGV[2], 'hold_ttl_ms', ARGV[3],
  'queue_enabled', ARGV[4], 'queue_rate', ARGV[5], 'queue_max_active', ARGV[6], 'queue_pass_ttl_ms', ARGV[7])
redis.call('HSETNX', KEYS[1], 'state', 'active')
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[3], 'relay', '0', 'MKSTREAM')
return { 'OK' }
