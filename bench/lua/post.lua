-- SPDX-License-Identifier: MIT
-- wrk script: POST the same body on every request.
--   BENCH_BODY_FILE  file holding the body (required)
--   BENCH_HEADERS    optional extra headers, "Name: value" separated by "\n"
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local k, v = line:match("^([^:]+):%s*(.*)$")
  if k then wrk.headers[k] = v end
end
