--- Starting the caveat language server and talking to it across Neovim 0.8 – 0.12.
local util = require('caveat.util')

local M = {}

M.name = 'caveat'

-- 0.11 turned client methods into `client:method()` and deprecated the dot form.
local has_011 = vim.fn.has('nvim-0.11') == 1

--- Last caveat/status notification, per client id.
M.status = {}

--- Client ids whose server answered `initialize`.
M.initialized = {}

--- The caveat client attached to a buffer (or any caveat client when bufnr is nil).
---@param bufnr integer|nil
---@return table|nil
function M.get(bufnr)
  local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients
  local filter = { name = M.name }
  if bufnr then
    filter.bufnr = bufnr == 0 and vim.api.nvim_get_current_buf() or bufnr
  end
  return get_clients(filter)[1]
end

--- Send a request with the calling convention of the running Neovim.
---@return boolean ok, integer|nil request_id
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Send a notification with the calling convention of the running Neovim.
function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Give every running caveat server a new settings tree (workspace/didChangeConfiguration).
---@param settings table the whole `caveat` settings tree
function M.push_settings(settings)
  local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients
  local tree = { caveat = util.as_object(settings) }
  for _, client in ipairs(get_clients({ name = M.name })) do
    -- Neovim answers workspace/configuration from these (client.config before 0.11).
    client.settings = tree
    if client.config then
      client.config.settings = tree
    end
    M.notify(client, 'workspace/didChangeConfiguration', { settings = tree })
  end
end

--- Cancel a pending request.
function M.cancel(client, request_id)
  if has_011 then
    client:cancel_request(request_id)
  else
    client.cancel_request(request_id)
  end
end

--- Run a `workspace/executeCommand` on the server; handler(err, result) is optional.
function M.execute(client, command, arguments, bufnr, handler)
  local params = { command = command, arguments = arguments }
  return M.request(client, 'workspace/executeCommand', params, function(err, result)
    if err then
      local why = util.unprefixed(type(err) == 'table' and err.message or tostring(err))
      vim.notify(('caveat: %s failed: %s'):format(command, why), vim.log.levels.WARN)
    end
    if handler then
      handler(err, result)
    end
  end, bufnr)
end

--- Report that a completion was inserted at its position (docs/PROTOCOL.md `caveat.accept`).
function M.accept(client, completion_id, bufnr)
  return M.execute(client, 'caveat.accept', { { completionId = completion_id } }, bufnr)
end

local function on_status(_, params, ctx)
  M.status[ctx.client_id] = params
  local opts = require('caveat').options
  if params and params.state == 'error' and opts and opts.notify_errors then
    vim.notify('caveat: ' .. util.unprefixed(params.message or 'model error'), vim.log.levels.ERROR)
  end
end

--- window/showMessage through Neovim's own handler, which already names the server
--- ("LSP[caveat] ..."): drop the server's "caveat: " so the name is not said twice.
local function on_show_message(err, params, ctx, config)
  if type(params) == 'table' and type(params.message) == 'string' then
    params = vim.tbl_extend('force', params, { message = util.unprefixed(params.message) })
  end
  return vim.lsp.handlers['window/showMessage'](err, params, ctx, config)
end

--- A server that exits with an error before it ever initialized did not start: say why.
local function on_exit(code, _, client_id)
  M.status[client_id] = nil
  local opts = require('caveat').options
  if code ~= 0 and opts and opts.cmd == nil and not M.initialized[client_id] then
    vim.schedule(function()
      require('caveat.interpreter').explain_exit(opts.python, code)
    end)
  end
  M.initialized[client_id] = nil
end

local function on_token_confidence(_, params, ctx)
  require('caveat.decorations').update(params, ctx.client_id)
end

--- Route `$/progress` partial results of caveat/complete to the ghost text, the rest to Neovim.
local function on_progress(err, params, ctx, config)
  if params and require('caveat.ghost').on_partial(params, ctx) then
    return
  end
  local default = vim.lsp.handlers['$/progress']
  if default then
    return default(err, params, ctx, config)
  end
end

--- Tell the server which lines of `bufnr` are on screen (`caveat/didView`): regions of other
--- files viewed recently become context for completions.
local function send_view(client, bufnr)
  if vim.api.nvim_get_current_buf() ~= bufnr or client.is_stopped and client:is_stopped() then
    return
  end
  local first, last = vim.fn.line('w0') - 1, vim.fn.line('w$') - 1
  M.notify(client, 'caveat/didView', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    ranges = { { start = { line = first, character = 0 }, ['end'] = { line = last, character = 0 } } },
  })
end

local function on_attach(client, bufnr)
  local opts = require('caveat').options
  local ns = vim.lsp.diagnostic.get_namespace(client.id, false)
  vim.diagnostic.config(opts.diagnostics, ns)
  require('caveat.completion').attach(client, bufnr)
  local timer = nil
  vim.api.nvim_create_autocmd({ 'WinScrolled', 'BufWinEnter' }, {
    buffer = bufnr,
    group = vim.api.nvim_create_augroup('caveat.view.' .. bufnr, { clear = true }),
    callback = function()
      -- Debounced: scrolling fires this for every line.
      if timer then
        timer:stop()
        timer:close()
      end
      timer = vim.defer_fn(function()
        timer = nil
        if vim.api.nvim_buf_is_valid(bufnr) then
          send_view(client, bufnr)
        end
      end, 400)
    end,
  })
end

--- The client configuration shared by vim.lsp.config and vim.lsp.start.
---@param opts table resolved options
---@return table
function M.lsp_config(opts)
  return {
    name = M.name,
    cmd = require('caveat.config').server_cmd(opts),
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    init_options = util.as_object(opts.settings),
    -- Answered to workspace/configuration (section `caveat`).
    settings = { caveat = util.as_object(opts.settings) },
    handlers = {
      ['caveat/status'] = on_status,
      ['caveat/tokenConfidence'] = on_token_confidence,
      ['$/progress'] = on_progress,
      ['window/showMessage'] = on_show_message,
    },
    on_init = function(client)
      M.initialized[client.id] = true
    end,
    on_exit = on_exit,
    on_attach = on_attach,
  }
end

local function find_root(bufnr, markers)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = path ~= '' and vim.fs.dirname(path) or (vim.uv or vim.loop).cwd()
  local found = vim.fs.find(markers, { upward = true, path = dir })[1]
  return found and vim.fs.dirname(found) or dir
end

--- Register the server so it starts for the configured filetypes.
---@param opts table resolved options
function M.enable(opts)
  local missing = opts.cmd == nil and require('caveat.interpreter').missing(opts.python)
  if missing then
    -- Starting it would only fail with "quit with exit code"; say what to fix instead.
    vim.notify('caveat: ' .. missing .. ' (:checkhealth caveat)', vim.log.levels.ERROR)
    return
  end
  local cfg = M.lsp_config(opts)
  if vim.lsp.config and vim.lsp.enable then
    vim.lsp.config(M.name, cfg)
    vim.lsp.enable(M.name)
    if vim.v.vim_did_enter == 0 then
      -- During startup vim.lsp.enable skips buffers that are already open (setup() from a `-c`
      -- command or a plugin loaded late); enabling again after VimEnter attaches them.
      vim.api.nvim_create_autocmd('VimEnter', {
        once = true,
        callback = function()
          vim.lsp.enable(M.name)
        end,
      })
    end
    return
  end
  -- Neovim 0.8 – 0.10: start (or reuse) a client from a FileType autocommand.
  local group = vim.api.nvim_create_augroup('caveat.start', { clear = true })
  local function start(bufnr)
    if vim.bo[bufnr].buftype ~= '' then
      return
    end
    local start_cfg = vim.deepcopy(cfg)
    start_cfg.root_dir = find_root(bufnr, opts.root_markers)
    start_cfg.root_markers, start_cfg.filetypes = nil, nil
    vim.lsp.start(start_cfg, { bufnr = bufnr })
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = opts.filetypes,
    callback = function(args)
      start(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    local ft = vim.bo[bufnr].filetype
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(opts.filetypes, ft) then
      start(bufnr)
    end
  end
end

return M
