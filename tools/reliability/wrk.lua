-- wrk script of the reliability load runs (tools/reliability/load).
--
-- Environment:
--   REL_MODE    get (GET of the URL's path: /healthz), match (POST /v1/match
--               with the bodies of REL_BODIES, one per line, in turn) or
--               cases (POST /v1/cases, each with a fresh random PDQ)
--   REL_BODIES  match: a file of JSON bodies, one a line
--   REL_EXPECT  match: how many items of every answer must say
--               "matched":true (the others must say false)
--   REL_ITEMS   match: how many items every body holds
--   REL_KEY     match: the platform's API key (sent as Bearer)
--
-- Every answer is checked: the status (200, or 201 for cases) and, for
-- match, the number of matched and unmatched items.  done() prints one line
-- that the driver parses:
--   RESULT requests=N seconds=S rps=R p50_ms=A p99_ms=B socket_errors=E
--          bad_status=F wrong_answers=W
-- where socket_errors counts connect/read/write/timeout errors of wrk.

local mode = os.getenv("REL_MODE") or "get"
local expect = tonumber(os.getenv("REL_EXPECT") or "-1")
local items = tonumber(os.getenv("REL_ITEMS") or "1")
local reqs = {}
local pos = 1
local want_status = 200
bad_status = 0
wrong = 0
answers = 0

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

local function hex64()
   local t = {}
   for i = 1, 8 do
      t[i] = string.format("%08x", math.random(0, 0x7fffffff) * 2 + math.random(0, 1))
   end
   return table.concat(t)
end

function init(args)
   math.randomseed(os.time() + (id or 0) * 7919)
   if mode == "match" then
      local path = os.getenv("REL_BODIES")
      local headers = {
         ["Authorization"] = "Bearer " .. (os.getenv("REL_KEY") or ""),
         ["Content-Type"] = "application/json",
      }
      local f = assert(io.open(path, "r"), "cannot open REL_BODIES")
      for line in f:lines() do
         reqs[#reqs + 1] = wrk.format("POST", "/v1/match", headers, line)
      end
      f:close()
      assert(#reqs > 0, "no bodies in REL_BODIES")
      -- Threads start at different places of the list.
      pos = ((id or 1) * 97) % #reqs + 1
   elseif mode == "cases" then
      want_status = 201
   else
      reqs[1] = wrk.format("GET", nil, nil, nil)
   end
end

function request()
   if mode == "cases" then
      return wrk.format("POST", "/v1/cases", { ["Content-Type"] = "application/json" },
                        '{"images":[{"pdq":"' .. hex64() .. '","quality":90}]}')
   end
   local r = reqs[pos]
   pos = pos % #reqs + 1
   return r
end

local function count(body, needle)
   local n, from = 0, 1
   while true do
      local s, e = string.find(body, needle, from, true)
      if not s then
         return n
      end
      n = n + 1
      from = e + 1
   end
end

function response(status, headers, body)
   answers = answers + 1
   if status ~= want_status then
      bad_status = bad_status + 1
      return
   end
   if mode == "match" and expect >= 0 then
      local yes = count(body, '"matched":true')
      local no = count(body, '"matched":false')
      if yes ~= expect or yes + no ~= items then
         wrong = wrong + 1
      end
   end
end

function done(summary, latency, requests)
   local bad, wr = 0, 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("bad_status") or 0)
      wr = wr + (t:get("wrong") or 0)
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f socket_errors=%d " ..
      "bad_status=%d wrong_answers=%d\n",
      summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, bad, wr))
end
