-- SPDX-License-Identifier: MIT
-- wrk script: POST webhook-register with a distinct url on every request.
--   BENCH_PATH     path and query, e.g. /prod/platform-integration/v1/webhook-register?airmeetId=…
--   BENCH_ACCESS   access key;  BENCH_SECRET  secret key
--   BENCH_TRIGGER  trigger id;  BENCH_HOOK_BASE  url prefix, e.g. http://127.0.0.1:9/h/
-- Each thread numbers its requests; urls are BASE<thread>-<n>, so all differ.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local counter = 0
local path, headers, trigger, base
function init(args)
  path = os.getenv("BENCH_PATH")
  trigger = os.getenv("BENCH_TRIGGER")
  base = os.getenv("BENCH_HOOK_BASE")
  headers = {
    ["Content-Type"] = "application/json",
    ["x-access-key"] = os.getenv("BENCH_ACCESS"),
    ["x-secret-key"] = os.getenv("BENCH_SECRET"),
  }
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"bench","triggerMetaInfoId":"%s","url":"%s%d-%d","platformName":"bench"}',
    trigger, base, tid, counter)
  return wrk.format("POST", path, headers, body)
end
