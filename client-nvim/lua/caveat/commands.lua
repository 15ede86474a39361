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
      vim.notify(M.scan_message(client, bufnr, type(result) == 'table' and result or {}))
    end
  end)
end

--- What a finished scan says. The server publishes its diagnostics before it answers, so the
--- buffer already shows them: count those, and name the spans the server left unpublished
--- (below `diagnostics.minLevel`, or diagnostics turned off) separately.
function M.scan_message(client, bufnr, result)
  if result.cancelled then
    -- The document changed (or a newer scan started): nothing was published, the diagnostics
    -- already shown stay.
    return 'caveat: scan cancelled; the diagnostics shown are unchanged'
  end
  local ns = vim.lsp.diagnostic.get_namespace(client.id, false)
  local shown = #vim.diagnostic.get(bufnr, { namespace = ns })
  local found = type(result.spans) == 'number' and result.spans or shown
  local msg = ('caveat: %d uncertain span%s'):format(shown, shown == 1 and '' or 's')
  if found > shown then
    msg = msg .. (' shown (the scan found %d; the others are below diagnostics.minLevel)'):format(
      found
    )
  end
  return msg
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

--- Turn completions on or off: everywhere (scope nil), for this 'buffer' or its 'filetype'.
---@param scope nil|'buffer'|'filetype'
function M.toggle(scope)
  local completion = require('caveat.completion')
  local bufnr = api.nvim_get_current_buf()
  local enabled, where
  if scope == 'buffer' then
    enabled = completion.set_buffer_enabled(bufnr, vim.b[bufnr].caveat_enabled == false)
    where = 'in this buffer'
  elseif scope == 'filetype' then
    local ft = vim.bo[bufnr].filetype
    enabled = completion.set_filetype_enabled(ft, completion.filetypes[ft] == false)
    where = 'for ' .. (ft ~= '' and ft or 'files without a filetype')
  elseif scope == nil or scope == '' then
    enabled = completion.set_enabled(not completion.enabled)
    where = 'everywhere'
  else
    vim.notify('caveat: toggle takes buffer, filetype or nothing', vim.log.levels.ERROR)
    return
  end
  vim.notify(('caveat: completions %s %s'):format(enabled and 'on' or 'off', where))
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
  -- While loading, the server can only name what it was asked to load ("Gemma 3 270M
  -- (embedded)", a file name); once loaded it names the model from its metadata. Show only the
  -- latter, so one model is never shown under two names.
  if st.model and st.state ~= 'loading' then
    parts[#parts + 1] = 'model ' .. st.model
  end
  if st.device then
    parts[#parts + 1] = 'on ' .. st.device
  end
  if st.lastLatencyMs then
    parts[#parts + 1] = ('last %.0f ms'):format(st.lastLatencyMs)
  end
  if st.tokensPerSecond then
    parts[#parts + 1] = ('%.0f tok/s'):format(st.tokensPerSecond)
  end
  local completion = require('caveat.completion')
  parts[#parts + 1] = ('completion %s (%s)'):format(
    completion.is_enabled(0) and 'on' or 'off',
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
  trigger = function()
    require('caveat.completion').trigger(0)
  end,
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
  if cmdline:match('^%S+%s+toggle%s') then
    return vim.tbl_filter(function(name)
      return name:sub(1, #arglead) == arglead
    end, { 'buffer', 'filetype' })
  end
  local names = vim.tbl_keys(subcommands)
  table.sort(names)
  return vim.tbl_filter(function(name)
    return name:sub(1, #arglead) == arglead
  end, names)
end

return M
