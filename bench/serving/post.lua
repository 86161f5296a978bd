-- wrk script: POSTs the JSON bodies of a file (one per line, given after `--`) to wrk's URL,
-- cycling through them. Requests are formatted once in init, so wrk's thread does no Lua
-- string work per request.
local requests = {}
local next = 0

function init(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, line)
  end
  -- Threads start at different points of the list.
  next = math.random(#requests) - 1
end

function request()
  next = next % #requests + 1
  return requests[next]
end
