-- SPDX-License-Identifier: MIT
-- wrk script: POST webhook-register with a distinct url on every request.
--   BENCH_PATH     path and query, e.g. /prod/platform-integration/v1/webhook-register?airmeetId=…
--   BENCH_ACCESS   access key;  BENCH_SECRET  secret key
--   BENCH_TRIGGER  trigger id;  BENCH_HOOK_BASE  url prefix, e.g. http://127.0.0.1:9/h/
-- BENCH_PATH, BENCH_ACCESS and BENCH_SECRET may each be a space-separated
-- list, one entry per community: thread t registers in community t modulo
-- their number, so that a run is not cut short by one community's
-- --max-webhooks.
-- Each thread numbers its requests; urls are BASE<thread>-<n>, so all differ.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function words(s)
  local list = {}
  for w in string.gmatch(s, "%S+") do
    table.insert(list, w)
  end
  return list
end

-- The entry of list s for this thread.
local function mine(s)
  local list = words(s)
  return list[(tid % #list) + 1]
end

local counter = 0
local path, headers, trigger, base
function init(args)
  path = mine(os.getenv("BENCH_PATH"))
  trigger = os.getenv("BENCH_TRIGGER")
  base = os.getenv("BENCH_HOOK_BASE")
  headers = {
    ["Content-Type"] = "application/json",
    ["x-access-key"] = mine(os.getenv("BENCH_ACCESS")),
    ["x-secret-key"] = mine(os.getenv("BENCH_SECRET")),
  }
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"bench","triggerMetaInfoId":"%s","url":"%s%d-%d","platformName":"bench"}',
    trigger, base, tid, counter)
  return wrk.format("POST", path, headers, body)
end
