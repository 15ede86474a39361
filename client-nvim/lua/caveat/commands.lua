--- The `:Caveat {scan|clear|toggle|status|alternatives}` command.
local client_mod = require('caveat.client')

local api = vim.api
local M = {}

local function current_client()
  local bufnr = api.nvim_get_current_buf()
  local client = client_mod.get(bufnr)
  if not client then
    vim.notify('caveat: the server is not attached to this buffer', vim.log.levels.WARN)
  end
  return client, bufnr
end

--- Teacher-force the whole buffer and publish its uncertain spans.
function M.scan()
  local client, bufnr = current_client()
  if not client then
    return
  end
  local uri = vim.uri_from_bufnr(bufnr)
  client_mod.execute(client, 'caveat.scanDocument', { uri }, bufnr, function(err, result)
    if not err then
      local n = type(result) == 'table' and result.spans or 0
      vim.notify(('caveat: %d uncertain span%s'):format(n, n == 1 and '' or 's'))
    end
  end)
end

--- Forget provenance and clear diagnostics for this buffer, or for every document with `all`.
function M.clear(all)
  local client, bufnr = current_client()
  if not client then
    return
  end
  local args = all and {} or { vim.uri_from_bufnr(bufnr) }
  client_mod.execute(client, 'caveat.clear', args, bufnr)
  require('caveat.decorations').clear_all()
end

--- Turn completions on or off everywhere.
function M.toggle()
  local completion = require('caveat.completion')
  local enabled = completion.set_enabled(not completion.enabled)
  vim.notify('caveat: completions ' .. (enabled and 'on' or 'off'))
end

--- One line describing the server state, the model and the last latency.
---@return string
function M.status_line()
  local client = client_mod.get(api.nvim_get_current_buf()) or client_mod.get(nil)
  if not client then
    return 'caveat: not running'
  end
  local st = client_mod.status[client.id] or {}
  local parts = { ('caveat: %s'):format(st.state or 'starting') }
  if st.model then
    parts[#parts + 1] = 'model ' .. st.model
  end
  if st.lastLatencyMs then
    parts[#parts + 1] = ('last %.0f ms'):format(st.lastLatencyMs)
  end
  if st.tokensPerSecond then
    parts[#parts + 1] = ('%.0f tok/s'):format(st.tokensPerSecond)
  end
  local completion = require('caveat.completion')
  parts[#parts + 1] = ('completion %s (%s)'):format(
    completion.enabled and 'on' or 'off',
    completion.mode() or 'not attached'
  )
  if st.message then
    parts[#parts + 1] = st.message
  end
  return table.concat(parts, ', ')
end

--- Offer the alternatives for the flagged span under the cursor as code actions.
function M.alternatives()
  vim.lsp.buf.code_action({
    context = { only = { 'quickfix' }, diagnostics = {} },
    filter = function(action)
      return (action.title or ''):find('(caveat', 1, true) ~= nil
    end,
  })
end

local subcommands = {
  scan = M.scan,
  clear = function(arg)
    M.clear(arg == 'all')
  end,
  toggle = M.toggle,
  status = function()
    vim.notify(M.status_line())
  end,
  alternatives = M.alternatives,
}

--- Run `:Caveat {sub} [arg]`.
function M.run(args)
  local sub, arg = (args.args or ''):match('^(%S*)%s*(%S*)')
  local fn = subcommands[sub ~= '' and sub or 'status']
  if not fn then
    vim.notify('caveat: unknown subcommand ' .. sub, vim.log.levels.ERROR)
    return
  end
  fn(arg)
end

--- Completion candidates for the command line.
function M.complete(arglead, cmdline)
  if cmdline:match('^%S+%s+clear%s') then
    return { 'all' }
  end
  local names = vim.tbl_keys(subcommands)
  table.sort(names)
  return vim.tbl_filter(function(name)
    return name:sub(1, #arglead) == arglead
  end, names)
end

return M
