-- wrk script for the logins of bench/run.ts phase (a): POSTs a password-grant form at a fixed rate,
-- alongside the proxied load of bench/wrk.lua. wrk, not the orchestrator: 20 logins/s sent with
-- Node's fetch from the orchestrator cost enough CPU on the load generator's core to raise wrk's
-- own p99 by ×1.37 with no gateway involved at all (measured: the same 20/s to a server inside the
-- orchestrator). Env:
--   BENCH_PATH         the token endpoint (default /oauth/token)
--   BENCH_LOGIN_BODY   the form body (application/x-www-form-urlencoded)
--   BENCH_LOGIN_RATE   logins per second in all, on one schedule shared by every connection: a
--                      connection that is free takes the next slot (t0 + k / rate) and waits for it.
--                      When every connection is busy, slots pass unsent: the rate is not kept.
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_timespec; int clock_gettime(int, bench_timespec *); ]]
local ts = ffi.new("bench_timespec")
local function nowMs()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local path = os.getenv("BENCH_PATH") or "/oauth/token"
local body = os.getenv("BENCH_LOGIN_BODY") or ""
local interval = 1000 / tonumber(os.getenv("BENCH_LOGIN_RATE") or "20")
local req = nil
local nextAt = nil
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  req = wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
  statuses = {}
end

function request()
  return req
end

function delay()
  local now = nowMs()
  if nextAt == nil then nextAt = now end
  -- a slot already past is skipped, not sent late in a burst
  while nextAt < now - interval do nextAt = nextAt + interval end
  nextAt = nextAt + interval
  return math.max(0, nextAt - now)
end

function response(status, headers, body)
  if status ~= 200 then statuses[status] = (statuses[status] or 0) + 1 end
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {}
  for _, t in ipairs(threads) do
    local st = t:get("statuses")
    if st ~= nil then
      for code, n in pairs(st) do table.insert(parts, string.format('"%s":%d', tostring(code), n)) end
    end
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, table.concat(parts, ",")))
end
