-- POST /v1/payments, each with a token of its own, read from TOKENS (one id a line). SK from the
-- environment. Threads take every n-th token so that none is used twice.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SK")

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  thread:set("threads", tonumber(os.getenv("WRK_THREADS") or "2"))
end

local tokens = {}
local next_index
function init(args)
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  next_index = id
end

function request()
  local tok = tokens[next_index]
  if tok == nil then
    wrk.thread:stop()
    tok = tokens[1]
  end
  next_index = next_index + threads
  return wrk.format(nil, nil, nil, '{"amount":1000,"currency":"jpy","token":"' .. tok .. '"}')
end
