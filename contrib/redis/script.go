package breakerredis

import "github.com/redis/go-redis/v9"

// syncScript is the one script the Fleet runs: once per attached breaker per
// exchange, all of them in one pipeline. It reads the server's TIME, repairs
// keys of the wrong type or with values it cannot trust, adds this
// instance's deltas to the current bucket of the fleet window, sums the live
// buckets, records whether this instance is failing, moves the fleet state
// on (open, probing, lapsed), applies this instance's report (a trip in
// ModeAny, or the outcome of its elected probe), evaluates the fleet rule,
// elects probers, and returns a snapshot. Being a script, all of that is
// atomic, so exactly one instance's exchange makes any one fleet transition.
//
// KEYS: 1 state hash, 2 window hash, 3 failing-instances zset, 4 probe hash.
//
// ARGV: 1 instance, 2 calls delta, 3 failures delta, 4 slow delta,
// 5 failing (0/1), 6 window ms, 7 bucket ms, 8 minimum calls,
// 9 failure rate, 10 slow rate, 11 minimum failing instances, 12 mode
// (quorum/any/observe), 13 report (none/trip/close/reopen), 14 open ms,
// 15 wants to probe (0/1), 16 probes per round, 17 probe round ms,
// 18 probe rounds, 19 event channel, 20 breaker name, 21 longest open ms.
//
// Returns {incarnation, epoch, phase, open ms left, elected, calls,
// failures, slow, failing instances, trip (0 none, 1 observed, 2 made),
// server ms, repairs}.
var syncScript = redis.NewScript(`
local st, wk, bad, pr = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = 'i:' .. ARGV[1]
local dc, df, ds = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local isbad = ARGV[5] == '1'
local win, bw = tonumber(ARGV[6]), tonumber(ARGV[7])
local minc, frate, srate, mini = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local mode, report, dur = ARGV[12], ARGV[13], tonumber(ARGV[14])
local wantp = ARGV[15] == '1'
local k, lease, rounds = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local chan, name, maxopen = ARGV[19], ARGV[20], tonumber(ARGV[21])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fixed = 0

local function kind(key, want)
  local ty = redis.call('TYPE', key)
  if type(ty) == 'table' then ty = ty['ok'] end
  if ty ~= want and ty ~= 'none' then
    redis.call('DEL', key)
    fixed = fixed + 1
  end
end
kind(st, 'hash'); kind(wk, 'hash'); kind(bad, 'zset'); kind(pr, 'hash')

local function int(v, lo, hi)
  if type(v) ~= 'string' and type(v) ~= 'number' then return nil end
  local n = tonumber(v)
  if n == nil or n ~= n or n < lo or n > hi or math.floor(n) ~= n then return nil end
  return n
end
local function str(n) return string.format('%d', n) end

local s = redis.call('HMGET', st, 'inc', 'epoch', 'phase', 'until')
local inc = s[1]
local epoch = int(s[2], 0, 1099511627776)
local phase = int(s[3], 0, 3)
local untl = int(s[4], 0, now + maxopen)
if not (type(inc) == 'string' and string.len(inc) <= 40 and string.match(inc, '^[0-9]+%.[0-9]+$') and epoch and phase and untl) then
  if s[1] or s[2] or s[3] or s[4] then fixed = fixed + 1 end
  inc = t[1] .. '.' .. t[2]
  epoch, phase, untl = 0, 0, 0
  redis.call('DEL', st)
  redis.call('HSET', st, 'inc', inc, 'epoch', '0', 'phase', '0', 'until', '0')
end

local function save()
  redis.call('HSET', st, 'epoch', str(epoch), 'phase', str(phase), 'until', str(untl))
end
local function publish(c, ttl)
  redis.call('PUBLISH', chan, 'v1|' .. name .. '|' .. inc .. '|' .. str(epoch) .. '|' .. c .. '|' .. str(ttl))
end

-- the fleet window: buckets of bw ms numbered by server time
local cur = math.floor(now / bw)
local nb = math.floor(win / bw)
if dc > 0 then
  redis.call('HINCRBY', wk, str(cur) .. ':c', dc)
  if df > 0 then redis.call('HINCRBY', wk, str(cur) .. ':f', df) end
  if ds > 0 then redis.call('HINCRBY', wk, str(cur) .. ':s', ds) end
end
local calls, fails, slow = 0, 0, 0
local h = redis.call('HGETALL', wk)
for i = 1, #h, 2 do
  local b, f = string.match(h[i], '^(%d+):([cfs])$')
  local bn = int(b, cur - nb + 1, cur)
  local v = int(h[i + 1], 0, 1099511627776)
  if bn and v then
    if f == 'c' then calls = calls + v elseif f == 'f' then fails = fails + v else slow = slow + v end
  else
    redis.call('HDEL', wk, h[i])
  end
end
if fails > calls then fails = calls end
if slow > calls then slow = calls end
if #h > 0 or dc > 0 then redis.call('PEXPIRE', wk, win + bw) end

-- the instances failing themselves, by server time of their last report
if isbad then redis.call('ZADD', bad, now, id) end
redis.call('ZREMRANGEBYSCORE', bad, '-inf', '(' .. str(now - win))
local nbad = redis.call('ZCARD', bad)
if nbad > 1024 then
  redis.call('ZREMRANGEBYRANK', bad, 0, nbad - 1025)
  nbad = 1024
end
if nbad > 0 then redis.call('PEXPIRE', bad, win) end

local function trip(d)
  epoch = epoch + 1; phase = 1; untl = now + d
  save()
  redis.call('DEL', wk, bad, pr)
  calls, fails, slow, nbad = 0, 0, 0, 0
  publish('o', d)
end

-- an open period that is over becomes probing, in rounds; after the last
-- round without an outcome the fleet lets go (lapsed, no event)
local round = 0
if phase == 1 and now >= untl then
  round = math.floor((now - untl) / lease)
  if round >= rounds then
    epoch = epoch + 1; phase = 0; untl = 0
    save()
    redis.call('DEL', pr)
  end
end
local probing = phase == 1 and now >= untl

local tripped = 0
if report == 'close' or report == 'reopen' then
  if probing and redis.call('HGET', pr, 'epoch') == str(epoch) and redis.call('HEXISTS', pr, id) == 1 then
    probing = false
    if report == 'close' then
      epoch = epoch + 1; phase = 3; untl = 0
      save()
      redis.call('DEL', pr, wk, bad)
      calls, fails, slow, nbad = 0, 0, 0, 0
      publish('c', 0)
    else
      trip(dur)
      tripped = 2
    end
  end
elseif report == 'trip' and mode == 'any' and phase ~= 1 then
  trip(dur)
  tripped = 2
end

if tripped == 0 and phase ~= 1 and calls > 0 and calls >= minc and nbad >= mini then
  if (frate > 0 and fails >= frate * calls) or (srate > 0 and slow >= srate * calls) then
    if mode == 'observe' then tripped = 1 else trip(dur); tripped = 2 end
  end
end

local elected = 0
if probing and wantp and mode ~= 'observe' then
  local es = str(epoch)
  if redis.call('HGET', pr, 'epoch') ~= es then
    redis.call('DEL', pr)
    redis.call('HSET', pr, 'epoch', es)
  end
  local rs = str(round)
  local mine = redis.call('HGET', pr, id)
  if mine == rs then
    elected = 1
  elseif not mine then
    local n = int(redis.call('HGET', pr, 'n' .. rs), 0, 1048576) or 0
    if n < k then
      redis.call('HSET', pr, id, rs)
      redis.call('HINCRBY', pr, 'n' .. rs, 1)
      elected = 1
    end
  end
  redis.call('PEXPIRE', pr, lease * (rounds + 1))
end

redis.call('PEXPIRE', st, 86400000)
local left = 0
if phase == 1 and untl > now then left = untl - now end
local ph = phase
if probing then ph = 2 end
return {inc, epoch, ph, left, elected, calls, fails, slow, nbad, tripped, now, fixed}
`)
