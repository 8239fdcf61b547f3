-- tower-shield: atomic multi-policy GCRA (the same arithmetic as core::quota::gcra).
-- KEYS[i]: counter keys. ARGV[1]: "1" to charge, "0" to peek.
-- ARGV[2 + 3(i-1) ..]: emission interval (us), burst, cost for KEYS[i].
-- Time is Redis TIME in microseconds (doubles hold it exactly until the year 2255).
-- Returns {now_us, then per key: allowed, remaining, reset_after_us, retry_after_us (-1 = never)}.
-- Every arrival time is written only when all policies allow, with a PX expiry at the moment
-- the key holds no information any more.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local charge = ARGV[1] == '1'
local out = {now}
local tats = {}
local all = true
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 + (i - 1) * 3])
  local burst = tonumber(ARGV[3 + (i - 1) * 3])
  local cost = tonumber(ARGV[4 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  local base = math.max(tat, now)
  local capacity = T * burst
  local allowed, remaining, reset_after, retry_after, new_tat
  if burst == 0 or T == 0 or cost > burst then
    allowed, remaining, reset_after, retry_after, new_tat = 0, 0, base - now, -1, tat
  else
    new_tat = base + T * cost
    local allow_at = new_tat - capacity
    if now < allow_at then
      remaining = math.floor(math.max(capacity - (base - now), 0) / T)
      allowed, reset_after, retry_after, new_tat = 0, base - now, allow_at - now, tat
    else
      remaining = math.floor((capacity - (new_tat - now)) / T)
      allowed, reset_after, retry_after = 1, new_tat - now, 0
    end
  end
  if allowed == 0 then all = false end
  tats[i] = new_tat
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = reset_after
  out[#out + 1] = retry_after
end
if charge and all then
  local seen = {}
  for i = 1, #KEYS do
    if not seen[KEYS[i]] then
      seen[KEYS[i]] = true
      local ttl_ms = math.ceil((tats[i] - now) / 1000)
      if ttl_ms > 0 then
        redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl_ms)
      end
    end
  end
end
return out
