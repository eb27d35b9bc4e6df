-- Shared by every scenario: one machine-readable line for bench/run.sh.
function done(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.status + e.timeout
   io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d requests=%d\n",
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.requests))
end

auth = { ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "") }
json_auth = { ["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json" }
max_post_id = tonumber(os.getenv("MAX_POST_ID") or "1")
users = tonumber(os.getenv("USERS") or "1")
password = os.getenv("PASSWORD") or ""
math.randomseed(os.time())

function login_request()
   local body = string.format('{"username":"user%d","password":"%s"}', math.random(1, users), password)
   return wrk.format("POST", "/login", { ["Content-Type"] = "application/json" }, body)
end
