-- wrk script for bench/gateway.sh. Every request POSTs the same chat completion; the body and
-- the bearer token come from the environment. With RATE set, requests are paced to that many
-- per second per wrk thread (a schedule on the monotonic clock, so late slots are caught up
-- and the average rate is exact; wrk's timers have 1 ms granularity). wrk measures each
-- request's latency from the write of the request to the end of the response, so the pause
-- between requests is not counted. done() prints one machine-readable line.
--   BODY  JSON request body (required)
--   TOKEN bearer token (optional)
--   RATE  requests per second per wrk thread (optional; unset = as fast as possible)
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } gw_timespec;
  int clock_gettime(int clk_id, gw_timespec *tp);
]]
local ts = ffi.new("gw_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local rate = tonumber(os.getenv("RATE") or "")
if rate and rate > 0 then
  local period_us = 1e6 / rate
  local next_us = nil
  -- Called by wrk before each request after a connection's first: returns the pause in ms.
  function delay()
    local now = now_us()
    if next_us == nil or next_us < now - 1e6 then
      next_us = now -- start, or more than 1 s behind: restart the schedule
    end
    local slot = next_us
    next_us = next_us + period_us
    local wait_ms = math.floor((slot - now) / 1000 + 0.5)
    if wait_ms < 0 then
      wait_ms = 0
    end
    return wait_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d "
      .. "mean_us=%.1f errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d "
      .. "errors_status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status))
end
