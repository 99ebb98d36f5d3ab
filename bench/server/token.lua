-- POST /v1/tokens with one test card. PK from the environment. With TOKENS_OUT set, each thread
-- appends the token ids it gets to TOKENS_OUT.<thread> (to feed the payments run).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PK")
wrk.body = '{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123"}}'

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local out
function init(args)
  local path = os.getenv("TOKENS_OUT")
  if path then out = io.open(path .. "." .. id, "w") end
end

function response(status, headers, body)
  if out and status == 200 then
    local tok = body:match('"id":"(tok_[%w]+)"')
    if tok then out:write(tok, "\n") end
  end
end
