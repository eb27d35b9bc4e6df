-- 80% reads (half lists, half single posts), 15% writes, 5% logins.
dofile("bench/scenarios/report.lua")
request = function()
   local r = math.random()
   if r < 0.40 then
      return wrk.format("GET", "/posts?limit=20", auth)
   elseif r < 0.80 then
      return wrk.format("GET", "/posts/" .. math.random(1, max_post_id), auth)
   elseif r < 0.95 then
      return wrk.format("POST", "/posts", json_auth, '{"content":"a post from the mixed load"}')
   end
   return login_request()
end
