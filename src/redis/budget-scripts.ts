/**
 * The shared budget's Lua scripts: each runs atomically in Redis, and time is Redis's (TIME), so instances with
 * skewed clocks still agree.
 */

/**
 * The start of both scripts below. KEYS[1] the epoch, KEYS[2] the pool's hold; ARGV[1] window ms, ARGV[3] the epoch
 * this instance knew ('' at first contact), ARGV[4] a new epoch should there be none. Sets now, windowMs, epoch
 * and closed.
 *
 * The epoch is a random id Redis keeps for as long as it keeps its data. An instance that knew another one is
 * talking to a Redis that lost the pool's window (restarted empty, or a replica promoted without it): the slots
 * it forgot are still in EPMware's minute, so the pool closes for one window (the hold is set once, NX).
 */
const EPOCH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = tonumber(ARGV[1])
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[1], epoch)
end
local closed = 0
if ARGV[3] ~= '' and ARGV[3] ~= epoch then
  if redis.call('SET', KEYS[2], now + windowMs, 'PX', windowMs, 'NX') then closed = 1 end
end
`;

/**
 * Run by every instance as soon as Redis is back, so that the instances that knew the earlier Redis close the
 * pool before a new instance (which cannot tell an empty Redis from a fresh deployment) spends from it.
 * KEYS and ARGV[1..4] as EPOCH (ARGV[2] unused). Returns {epoch, closed}.
 */
export const CHECK_EPOCH = `${EPOCH}
return {epoch, closed}
`;

/**
 * KEYS: the epoch, the pool's hold, then per class its pool window (ZSET), its total window (ZSET: the pool's slots
 * and the reserve slots spent while Redis was up) and its Retry-After hold.
 * ARGV: window ms, the slot's member, the epoch this instance knew ('' at first contact), a new epoch should there
 * be none, '1' when this instance offers a slot of its reserve, then per class the pool's and the total's limits.
 *
 * A slot comes from the pool when the pool and the total both have room, else from the offered reserve when the
 * total has room: the total caps what all instances spend while Redis is up even if GATEWAY_INSTANCES is set
 * lower than the number running (their reserves would add up to more than the credential's limit).
 *
 * Returns {source, now or the pool's wait in ms, epoch, closed, the total's wait in ms}: source 1 = a pool slot,
 * 2 = the reserve's slot recorded in the total, 0 = none; closed is 1 when this call closed the pool.
 */
export const TAKE_SLOT = `${EPOCH}
local function waitFor(window, limit)
  local count = redis.call('ZCARD', window)
  if count < limit then return 0 end
  if limit <= 0 then return windowMs end
  local freed = redis.call('ZRANGE', window, count - limit, count - limit, 'WITHSCORES')
  return tonumber(freed[2]) + windowMs - now
end
local poolWait = 0
local totalWait = 0
local poolHeld = tonumber(redis.call('GET', KEYS[2]) or '0')
if poolHeld > now then poolWait = poolHeld - now end
local classes = (#KEYS - 2) / 3
for i = 1, classes do
  local pool, total, hold = KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2]
  redis.call('ZREMRANGEBYSCORE', pool, '-inf', now - windowMs)
  redis.call('ZREMRANGEBYSCORE', total, '-inf', now - windowMs)
  local held = tonumber(redis.call('GET', hold) or '0')
  if held > now then totalWait = math.max(totalWait, held - now) end
  poolWait = math.max(poolWait, waitFor(pool, tonumber(ARGV[4 + 2 * i])))
  totalWait = math.max(totalWait, waitFor(total, tonumber(ARGV[5 + 2 * i])))
end
poolWait = math.max(poolWait, totalWait)
local source = 0
if poolWait <= 0 then source = 1 elseif ARGV[5] == '1' and totalWait <= 0 then source = 2 end
if source == 0 then return {0, poolWait, epoch, closed, totalWait} end
for i = 1, classes do
  if source == 1 then redis.call('ZADD', KEYS[3 * i], now, ARGV[2]) end
  redis.call('ZADD', KEYS[3 * i + 1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[3 * i], windowMs * 2)
  redis.call('PEXPIRE', KEYS[3 * i + 1], windowMs * 2)
end
return {source, now, epoch, closed, 0}
`;

/** KEYS: windows. ARGV: the member. Re-dates the slot by the answer (only if it is still there). */
export const SETTLE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1]) end
return now
`;

/** KEYS: a hold. ARGV: ms from now. Extends the hold, never shortens it. */
export const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > current then redis.call('SET', KEYS[1], untilMs, 'PX', tonumber(ARGV[1]) + 1000) end
return 1
`;
