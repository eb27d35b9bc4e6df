dofile("bench/scenarios/report.lua")
request = function() return wrk.format("GET", "/posts/" .. math.random(1, max_post_id), auth) end
