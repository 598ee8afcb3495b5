-- wrk script for bench/gateway.sh: POSTs one chat completion per request (body and bearer
-- token from the environment), optionally paces each connection with a fixed delay, and
-- prints a machine-readable summary line with microsecond percentiles.
--   BODY   JSON request body (required)
--   TOKEN  bearer token (optional)
--   DELAY_MS  per-connection pause between a response and the next request (optional)
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local non2xx = summary.errors.status
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
      .. "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d errors_status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, non2xx))
end
