-- GET /posts?limit=20 from many clients: each request carries the next of
-- 1,000 distinct users' access tokens (TOKENS_FILE, one per line), round
-- robin, so the verified-token cache and the revocation lookup see a real
-- spread of sessions instead of one hot token.
dofile("bench/scenarios/report.lua")
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
   table.insert(tokens, "Bearer " .. line)
end
local next_token = 0
function request()
   next_token = next_token % #tokens + 1
   return wrk.format("GET", "/posts?limit=20", { ["Authorization"] = tokens[next_token] })
end
