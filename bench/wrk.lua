-- wrk script for bench/run.ts. Env:
--   BENCH_TOKENS_FILE  one access token per line; requests cycle through them (Authorization: Bearer ...).
--                      Unset or empty: no Authorization header.
--   BENCH_PATH         request path (default /orders/42).
--   BENCH_RATE         unset: closed loop (each connection sends its next request as soon as the last
--                      is answered). A number: requests per second in all, on one schedule shared by
--                      every connection (a free connection takes the next slot, t0 + k / rate, and waits
--                      for it), so the offered rate does not fall when latency rises (bench/run.ts,
--                      phase (a)); slots that pass while every connection is busy are skipped.
--   BENCH_LOGIN_BODY   set: every request is a POST of this form body (application/x-www-form-urlencoded)
--                      to BENCH_PATH, no token: phase (a)'s logins, sent by a second wrk beside the
--                      proxied load. Not the orchestrator's fetch: 20/s of those, sharing the load
--                      generator's CPU, raised wrk's own p99 ×1.37 with no gateway involved at all.
-- Requests are pre-formatted once, so the per-request cost in wrk is one table lookup.
local path = os.getenv("BENCH_PATH") or "/orders/42"
local file = os.getenv("BENCH_TOKENS_FILE")
local count = os.getenv("BENCH_COUNT_STATUS") == "1"
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local loginBody = os.getenv("BENCH_LOGIN_BODY")
local threads = {}
local reqs = {}
local n = 0
local i = 0

function init(args)
  if loginBody ~= nil and loginBody ~= "" then
    n = 1
    reqs[1] = wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" }, loginBody)
    return
  end
  if file ~= nil and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then
        n = n + 1
        reqs[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
      end
    end
  end
  if n == 0 then
    n = 1
    reqs[1] = wrk.format("GET", path)
  end
end

function setup(thread)
  table.insert(threads, thread)
end

-- Only when asked (BENCH_COUNT_STATUS=1): a response() callback makes wrk hand every response to Lua,
-- which costs load-generator CPU, so the throughput runs leave it out.
if count then
  statuses = {}
  function response(status, headers, body)
    if status >= 400 then statuses[status] = (statuses[status] or 0) + 1 end
  end
end

if rate ~= nil then
  local ffi = require("ffi")
  ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_timespec; int clock_gettime(int, bench_timespec *); ]]
  local ts = ffi.new("bench_timespec")
  local interval = 1000 / rate
  local nextAt = nil
  function delay()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC, ms below
    local now = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
    if nextAt == nil then nextAt = now end
    while nextAt < now - interval do nextAt = nextAt + interval end
    nextAt = nextAt + interval
    return math.max(0, nextAt - now)
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
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
