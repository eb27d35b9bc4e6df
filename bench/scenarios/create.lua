dofile("bench/scenarios/report.lua")
request = function()
   return wrk.format("POST", "/posts", json_auth, '{"content":"a new post written by the benchmark"}')
end
