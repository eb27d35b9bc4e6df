dofile("bench/scenarios/report.lua")
request = function() return wrk.format("GET", "/healthz") end
