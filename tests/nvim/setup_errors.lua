-- For tests/test_nvim_client.py: setup() with the `python` from $CAVEAT_PYTHON (one that is
-- missing, or one without caveat) and extra options from $CAVEAT_E2E_OPTS (JSON); records the
-- notifications, the resolved options, the keys mapped in the buffer and `:checkhealth caveat`,
-- then writes them to $CAVEAT_E2E_OUT as JSON.
local api = vim.api
local out_path = assert(vim.env.CAVEAT_E2E_OUT, 'CAVEAT_E2E_OUT is not set')
local results = { notifications = {} }

vim.notify = function(msg, level)
  table.insert(results.notifications, { msg = msg, level = level })
end

local function finish()
  vim.fn.writefile({ vim.json.encode(results) }, out_path)
  vim.cmd('qall!')
end

local ok, err = pcall(function()
  local opts = vim.json.decode(vim.env.CAVEAT_E2E_OPTS or '{}')
  opts.python = vim.env.CAVEAT_PYTHON
  require('caveat').setup(opts)
  results.options = vim.deepcopy(require('caveat').options)
  results.problems = require('caveat').problems
end)
if not ok then
  results.error = tostring(err)
  return finish()
end

-- A server that does start but exits at once (no caveat) is explained when it exits; wait for
-- that, or for the client to run, at most 20 s.
local deadline = vim.uv.now() + 20000
local function poll()
  local exited = false
  for _, n in ipairs(results.notifications) do
    if n.msg:find('cannot import caveat', 1, true) then
      exited = true
    end
  end
  local want_exit = vim.env.CAVEAT_E2E_WAIT_EXIT == '1'
  if want_exit and not exited and vim.uv.now() < deadline then
    return vim.defer_fn(poll, 100)
  end
  local keys = {}
  for _, mode in ipairs({ 'i', 'n' }) do
    for _, m in ipairs(api.nvim_buf_get_keymap(0, mode)) do
      keys[#keys + 1] = mode .. ' ' .. m.lhs
    end
  end
  results.buffer_keys = keys
  vim.cmd('checkhealth caveat')
  results.health = api.nvim_buf_get_lines(0, 0, -1, false)
  finish()
end
vim.schedule(poll)
