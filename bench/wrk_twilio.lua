-- wrk script: signed Twilio inbound-SMS posts, prepared by bench/webhook_bench.py.
-- The file named by WRK_REQUESTS holds one request per line: "<signature>\t<form body>".
-- Thread k of n sends lines k, k+n, k+2n, ... (so no two threads send one MessageSid),
-- and wraps around only if it runs out (counted in "wrapped"). done() prints one JSON
-- line that the Python driver reads.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS"))
  local k = id
  reqs = {}
  wrapped = 0
  local index = 0
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    if index % n == k - 1 then
      local tab = line:find("\t", 1, true)
      local signature = line:sub(1, tab - 1)
      local body = line:sub(tab + 1)
      reqs[#reqs + 1] = wrk.format("POST", os.getenv("WRK_PATH"), {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    index = index + 1
  end
  position = 0
end

function request()
  position = position + 1
  if position > #reqs then
    position = 1
    wrapped = wrapped + 1
  end
  return reqs[position]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors_status": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, wraps))
end
