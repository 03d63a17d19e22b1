-- POST /api/v1/documents/{id}/progress: each request as the specialist who
-- holds the document (work.txt: "<token> <document id>" per line), spread
-- over many documents.
local work = {}
for line in io.lines("work.txt") do
  local t, id = line:match("^(%S+) (%S+)$")
  work[#work + 1] = { t, id }
end
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

init = function(args)
  n = offset or 0
end

request = function()
  n = n + 1
  local w = work[(n % #work) + 1]
  local body = '{"percent": ' .. (n % 100) .. ', "note": "Tiến độ xử lý."}'
  return wrk.format("POST", "/api/v1/documents/" .. w[2] .. "/progress",
    { ["Authorization"] = "Bearer " .. w[1], ["Content-Type"] = "application/json" }, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    errors = (errors or 0) + 1
    if errors <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n") end
  end
end
