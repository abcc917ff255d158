-- Token bucket: refills at ARGV[1] tokens per second up to ARGV[2]; takes one token if it can.
-- One atomic script on Redis time, so every gateway replica shares the same bucket.
-- KEYS: bucket.  Returns: allowed (1/0), tokens left, ms until one token, ms until full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if allowed == 0 then wait = math.ceil((1 - tokens) / rate * 1000) end
return { allowed, math.floor(tokens), wait, math.ceil((burst - tokens) / rate * 1000) }
