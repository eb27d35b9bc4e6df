-- Each refresh rotates its token: every thread keeps a queue of live refresh
-- tokens (REFRESH_TOKENS, split between threads), sends the oldest and puts
-- the successor from the answer back.
dofile("bench/scenarios/report.lua")
local threads = 0
function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end
function init(args)
   queue = {}
   local n = tonumber(os.getenv("THREADS"))
   local i = 0
   for token in string.gmatch(os.getenv("REFRESH_TOKENS") or "", "[^,]+") do
      if i % n == tid then table.insert(queue, token) end
      i = i + 1
   end
end
function request()
   local token = table.remove(queue, 1) or "exhausted"
   return wrk.format("POST", "/refresh", { ["Content-Type"] = "application/json" },
      '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
   if status == 200 then
      local token = body:match('"refresh_token":"([^"]+)"')
      if token then table.insert(queue, token) end
   end
end
