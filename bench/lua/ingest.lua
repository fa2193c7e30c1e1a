-- SPDX-License-Identifier: MIT
-- wrk script: POST /admin/v1/events, one event per request.
--   BENCH_TOKEN      admin token (sent as Authorization: Bearer)
--   BENCH_COMMUNITY  community id;  BENCH_AIRMEET  airmeet id;  BENCH_TRIGGER  trigger id
--   BENCH_DATA_FILE  the event's data (a JSON object); its "n":0 is replaced
--                    by a per-request number so that no two bodies are equal
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local counter = 0
local headers, head, tail
function init(args)
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
  }
  local f = assert(io.open(os.getenv("BENCH_DATA_FILE"), "rb"))
  local data = f:read("*a"):gsub("%s+$", "")
  f:close()
  local i, j = data:find('"n":0', 1, true)
  assert(i, "BENCH_DATA_FILE needs \"n\":0")
  head = string.format(
    '{"communityId":"%s","triggerMetaInfoId":"%s","airmeetId":"%s","data":%s',
    os.getenv("BENCH_COMMUNITY"), os.getenv("BENCH_TRIGGER"), os.getenv("BENCH_AIRMEET"),
    data:sub(1, i - 1))
  head = head .. '"n":'
  tail = data:sub(j + 1) .. "}"
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/admin/v1/events", headers,
                    head .. string.format("%d%06d", tid + 1, counter) .. tail)
end
