-- wrk script: POST one GraphQL request body over and over and validate every
-- response.
--   BODY=pg-first50.json EXPECT='"probe-1"' [AUTH='Bearer xyz'] \
--     wrk -t1 -c8 -d30s --latency -s post.lua http://127.0.0.1:PORT/graphql
-- BODY   (required) file holding the JSON request body, read once at start.
-- EXPECT (optional) a string every response body must contain (plain match).
-- AUTH   (optional) value of the Authorization header.
-- A response is invalid unless: status 200, no "errors" in the body, and the
-- body contains EXPECT. done() prints "responses: N" and "invalid: N"
-- (summed over all threads) plus the first invalid response.

local body_file = os.getenv("BODY")
if body_file == nil or body_file == "" then
  error("post.lua: set BODY to the file holding the request body")
end
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()
local expect = os.getenv("EXPECT")
if expect == "" then expect = nil end
local auth = os.getenv("AUTH")

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

-- Per-thread counters: globals of each thread's Lua state, read in done()
-- through the thread objects collected by setup().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

responses = 0
invalid = 0
first_invalid = nil

function response(status, headers, resp_body)
  responses = responses + 1
  local why = nil
  if status ~= 200 then
    why = "status " .. status
  elseif resp_body == nil then
    why = "empty body"
  elseif string.find(resp_body, '"errors"', 1, true) then
    why = "errors in body"
  elseif expect ~= nil and not string.find(resp_body, expect, 1, true) then
    why = "EXPECT not found"
  end
  if why ~= nil then
    invalid = invalid + 1
    if first_invalid == nil then
      first_invalid = why .. ": " .. string.sub(resp_body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total, bad, example = 0, 0, nil
  for _, t in ipairs(threads) do
    total = total + (t:get("responses") or 0)
    bad = bad + (t:get("invalid") or 0)
    example = example or t:get("first_invalid")
  end
  io.write(string.format("body: %s (%d bytes)  expect: %s\n", body_file, #body, expect or "(none)"))
  io.write(string.format("latency_us: p50=%d p90=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("responses: %d\n", total))
  io.write(string.format("invalid: %d\n", bad))
  if example ~= nil then
    io.write("first invalid: " .. example .. "\n")
  end
end
