-- Every request from a new public IPv4 address (11.0.0.0 onwards): a flood of distinct clients.
local n = 0
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
wrk.headers["Accept"] = "text/html"
wrk.headers["Accept-Language"] = "en"
wrk.headers["Accept-Encoding"] = "gzip"
request = function()
  n = n + 1
  local a = 11 + math.floor(n / 16777216) % 100
  local ip = string.format("%d.%d.%d.%d", a, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  wrk.headers["X-Forwarded-For"] = ip
  return wrk.format("GET", "/")
end
