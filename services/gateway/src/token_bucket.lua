-- Token bucket: refills at ARGV[1] tokens per second up to ARGV[2]; takes up to ARGV[3] tokens
-- (default 1) if at least one is there. One atomic script on Redis time, so every gateway replica
-- shares the same bucket and tokens taken for a replica's lease are gone for the others.
-- KEYS: bucket.  Returns: tokens taken (0 when refused), tokens left, ms until one token,
-- ms until full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = math.max(1, math.floor(tonumber(ARGV[3]) or 1))
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local taken = math.min(want, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if taken == 0 then wait = math.ceil((1 - tokens) / rate * 1000) end
return { taken, math.floor(tokens), wait, math.ceil((burst - tokens) / rate * 1000) }
