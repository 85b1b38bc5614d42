-- wrk script for bench/run.ts. Env:
--   BENCH_TOKENS_FILE  one access token per line; requests cycle through them (Authorization: Bearer ...).
--                      Unset or empty: no Authorization header.
--   BENCH_PATH         request path (default /orders/42).
-- Requests are pre-formatted once, so the per-request cost in wrk is one table lookup.
local path = os.getenv("BENCH_PATH") or "/orders/42"
local file = os.getenv("BENCH_TOKENS_FILE")
local count = os.getenv("BENCH_COUNT_STATUS") == "1"
local threads = {}
local reqs = {}
local n = 0
local i = 0

function init(args)
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
