dofile("bench/scenarios/report.lua")
request = login_request
