-- Prelude of the queue scripts (after the booking prelude). One sale's queue:
--   q:state    hash: phase (pre -> sealed -> open), seed, pre_total, placed, next (last ticket
--              handed out), head (highest ticket admitted), tokens and last_ms (the admission
--              bucket), admitted, lapsed, soldout, gaps_ver, preseq, sample_ms, and
--              first_admitted_ms, first_batch and last_admitted_ms (to measure the rate)
--   q:pre      zset: buyers who joined before opening, by order of joining
--   q:line     zset: waiting buyers by ticket
--   q:tickets  hash: buyer -> ticket, or 'pre' while in the pre-queue
--   q:active   zset: admitted buyers by the expiry of their admission
--   q:passes   hash: admitted buyer -> the pass handed out to them
--   q:gaps     zset: tickets ahead of the head whose buyers left
--   q:order    list: the pre-queue after the shuffle (ticket order), for audit
--   q:drain    list: "ms:admitted" samples, newest first, one a second, for the drain rate
--   q:ended    hash: buyer -> how their last entry ended (used, expired, left)
--   qpass:<p>  hash: user, exp (ms) of one pass

local function queue_meta()
  local m = redis.call('HMGET', KEYS[1], 'opens_at_ms', 'closes_at_ms', 'state', 'queue_enabled',
    'queue_rate', 'queue_max_active', 'queue_pass_ttl_ms')
  if not m[1] then return nil end
  return { opens = m[1], closes = m[2], state = m[3] or 'active', enabled = m[4] == '1',
           rate = m[5] or '1', max_active = m[6] or '1', pass_ttl = m[7] or '60000' }
end

local function phase()
  return redis.call('HGET', q('state'), 'phase') or 'pre'
end

-- Closes the pre-queue at opening. Its buyers get tickets 1..n in shuffled order (the place
-- script writes them); every later joiner queues behind them, from ticket n + 1.
local function seal(seed, now)
  local n = redis.call('ZCARD', q('pre'))
  local next_phase = 'sealed'
  if n == 0 then next_phase = 'open' end
  redis.call('HSET', q('state'), 'phase', next_phase, 'seed', seed, 'pre_total', n, 'placed', 0,
    'next', n, 'sealed_at', now)
end

-- The numbers every queue answer carries (parsed by `Summary::parse`).
local function summary(meta, now)
  local s = redis.call('HMGET', q('state'), 'phase', 'head', 'next', 'soldout', 'gaps_ver',
    'admitted', 'pre_total', 'placed')
  local ph = s[1] or 'pre'
  local pre = 0
  if ph == 'pre' then
    pre = redis.call('ZCARD', q('pre'))
  elseif ph == 'sealed' then
    pre = tonumber(s[7] or '0') - tonumber(s[8] or '0')
  end
  local drain = redis.call('LRANGE', q('drain'), 0, -1)
  return { ph, meta.opens, meta.closes, meta.state, s[2] or '0', s[3] or '0',
    tostring(redis.call('ZCARD', q('line'))), tostring(pre), s[7] or '0', s[4] or '0', s[5] or '0',
    s[6] or '0', tostring(redis.call('ZCARD', q('active'))), meta.rate, meta.max_active,
    meta.pass_ttl, drain[#drain] or '', drain[1] or '', tostring(now) }
end

-- The buyer's own entry as four fields (parsed by `Entry::parse`): NONE with how the last one
-- ended, PRE, WAITING with ticket and buyers ahead, or ADMITTED with ticket, pass and its expiry.
-- An admitted buyer's pass is handed out here, once: `candidate` becomes it unless one exists.
local function entry_view(user, now, candidate)
  local entry = redis.call('HGET', q('tickets'), user)
  if not entry then
    return { 'NONE', redis.call('HGET', q('ended'), user) or '', '', '' }
  end
  if entry == 'pre' then return { 'PRE', '', '', '' } end
  local expires = redis.call('ZSCORE', q('active'), user)
  if expires then
    if tonumber(expires) <= now then
      end_admission(user, 'expired')
      redis.call('HINCRBY', q('state'), 'lapsed', 1)
      return { 'NONE', 'expired', '', '' }
    end
    local pass = redis.call('HGET', q('passes'), user)
    if not pass then
      pass = candidate
      redis.call('HSET', q('passes'), user, pass)
      redis.call('HSET', pass_key(pass), 'user', user, 'exp', expires)
      redis.call('PEXPIREAT', pass_key(pass), expires)
    end
    return { 'ADMITTED', entry, pass, expires }
  end
  local rank = redis.call('ZRANK', q('line'), user)
  if rank then
    -- While the pre-queue is being placed, its unplaced buyers are ahead of every later joiner.
    local s = redis.call('HMGET', q('state'), 'phase', 'pre_total', 'placed')
    if s[1] == 'sealed' and tonumber(entry) > tonumber(s[2]) then
      rank = rank + tonumber(s[2]) - tonumber(s[3])
    end
    return { 'WAITING', entry, tostring(rank), '' }
  end
  redis.call('HDEL', q('tickets'), user)
  return { 'NONE', '', '', '' }
end

-- An answer: status, flag, the entry's four fields, then the summary.
local function answer(status, flag, entry, meta, now)
  local out = { status, flag }
  for _, v in ipairs(entry) do table.insert(out, v) end
  for _, v in ipairs(summary(meta, now)) do table.insert(out, v) end
  return out
end
