-- Helpers for the headless Neovim scenarios of tests/test_nvim_*.py: a coroutine that yields to
-- the main loop while waiting (so insert mode, timers and RPC run), waits with timeouts, and a
-- JSON result written to $CAVEAT_E2E_OUT whatever happens.
local api = vim.api
local M = {}

M.out_path = assert(vim.env.CAVEAT_E2E_OUT, 'CAVEAT_E2E_OUT is not set')
M.results = { notifications = {}, requests = {}, sent = {} }

local co

local function finish(code)
  vim.fn.writefile({ vim.json.encode(M.results) }, M.out_path)
  vim.cmd(code == 0 and 'qall!' or 'cquit ' .. code)
end

local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    M.results.error = debug.traceback(co, err)
    finish(1)
  end
end

function M.sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

function M.wait_for(what, timeout_ms, cond)
  local deadline = vim.uv.now() + timeout_ms
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error('timed out waiting for ' .. what, 0)
    end
    M.sleep(20)
  end
end

--- Run `main` as the scenario; records vim.notify calls first.
function M.run(main)
  vim.notify = function(msg, level)
    table.insert(M.results.notifications, { msg = msg, level = level })
  end
  co = coroutine.create(function()
    main()
    finish(0)
  end)
  vim.schedule(resume)
end

--- Record every request Neovim sends to a client (method, params, result once answered), and
--- every notification (method, params) in `results.sent`.
function M.instrument(client)
  local notify = client.notify
  client.notify = function(self, method, params)
    table.insert(M.results.sent, { method = method, params = params })
    return notify(self, method, params)
  end
  local original = client.request
  client.request = function(self, method, params, handler, bufnr)
    local entry = { method = method, params = params }
    table.insert(M.results.requests, entry)
    local inner = handler or self.handlers[method] or vim.lsp.handlers[method]
    local function wrapped(err, result, ctx, config)
      entry.result, entry.err, entry.answered = result, err, true
      if inner then
        return inner(err, result, ctx, config)
      end
    end
    return original(self, method, params, wrapped, bufnr)
  end
end

--- Requests recorded after index `since` with this method.
function M.requests_since(since, method)
  local list = {}
  for i = since + 1, #M.results.requests do
    local r = M.results.requests[i]
    if r.method == method then
      list[#list + 1] = r
    end
  end
  return list
end

--- Notifications recorded after index `since` whose message contains `text`.
function M.notified_since(since, text)
  local list = {}
  for i = since + 1, #M.results.notifications do
    local n = M.results.notifications[i]
    if n.msg:find(text, 1, true) then
      list[#list + 1] = n.msg
    end
  end
  return list
end

function M.caveat_client(bufnr)
  return vim.lsp.get_clients({ name = 'caveat', bufnr = bufnr })[1]
end

function M.lines(bufnr)
  return api.nvim_buf_get_lines(bufnr, 0, -1, true)
end

function M.caveat_diagnostics(client, bufnr)
  local ns = vim.lsp.diagnostic.get_namespace(client.id, false)
  return vim.diagnostic.get(bufnr, { namespace = ns })
end

function M.keys(keys)
  api.nvim_feedkeys(api.nvim_replace_termcodes(keys, true, false, true), 'm', false)
end

--- Enter insert mode at the end of the last line, as `GA` would.
function M.insert_at_end(bufnr)
  local last = api.nvim_buf_line_count(bufnr)
  api.nvim_win_set_cursor(0, { last, #M.lines(bufnr)[last] })
  vim.cmd('startinsert!')
  M.wait_for('insert mode', 5000, function()
    return api.nvim_get_mode().mode == 'i'
  end)
end

function M.leave_insert()
  vim.cmd('stopinsert')
  M.wait_for('normal mode', 5000, function()
    return api.nvim_get_mode().mode == 'n'
  end)
end

--- Open a file and wait for the caveat client to attach to it.
function M.open(path)
  vim.cmd('edit ' .. vim.fn.fnameescape(path))
  local bufnr = api.nvim_get_current_buf()
  local client = M.wait_for('the caveat client on ' .. path, 60000, function()
    return M.caveat_client(bufnr)
  end)
  return bufnr, client
end

return M
