-- GET /api/v1/inbox, each connection as another official (tokens.txt: one
-- bearer token per line).
local tokens = {}
for line in io.lines("tokens.txt") do tokens[#tokens + 1] = line end
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("offset", counter * 97)
end

init = function(args)
  n = offset or 0
end

request = function()
  n = n + 1
  local t = tokens[(n % #tokens) + 1]
  return wrk.format("GET", "/api/v1/inbox", { ["Authorization"] = "Bearer " .. t })
end

response = function(status, headers, body)
  if status ~= 200 then
    errors = (errors or 0) + 1
    if errors <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n") end
  end
end
