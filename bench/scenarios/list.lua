dofile("bench/scenarios/report.lua")
request = function() return wrk.format("GET", "/posts?limit=20", auth) end
