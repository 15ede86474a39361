--- Options of the caveat Neovim client: defaults, merging and validation.
local M = {}

--- The defaults; every key is documented in client-nvim/README.md.
M.defaults = {
  -- Command that starts the server; nil = { python, '-m', 'caveat', 'serve' }.
  cmd = nil,
  -- Python interpreter that has caveat installed (used when `cmd` is nil).
  python = 'python3',
  filetypes = { 'python', 'javascript', 'typescript', 'rust', 'go', 'java', 'c', 'cpp' },
  root_markers = { 'pyproject.toml', 'setup.py', 'package.json', 'Cargo.toml', 'go.mod', '.git' },
  -- The server's settings tree (docs/PROTOCOL.md), e.g. { completion = { maxTokens = 32 } }.
  settings = {},
  -- 'auto': native vim.lsp.inline_completion where Neovim has it, streamed ghost text otherwise;
  -- 'native' or 'ghost' force one; false turns completion display off (diagnostics stay).
  inline = 'auto',
  -- Ghost mode only: request a completion as you type (else only on the trigger key).
  auto_trigger = true,
  -- Ghost mode only: wait this long after the last keystroke before asking the server.
  debounce_ms = 150,
  -- Insert-mode keys; set one to false to leave it unmapped.
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
  -- vim.diagnostic options for caveat's diagnostics only (its own namespace).
  diagnostics = {
    underline = true,
    virtual_text = true,
    signs = false,
    severity_sort = true,
  },
  -- Draw graded highlights over accepted text from caveat/tokenConfidence.
  decorations = false,
  -- Show caveat/status errors with vim.notify.
  notify_errors = true,
}

local valid_inline = { auto = true, native = true, ghost = true }

---@param opts table
---@return string|nil error message, nil when the options are valid
local function check(opts)
  if opts.inline ~= false and not valid_inline[opts.inline] then
    return "inline must be 'auto', 'native', 'ghost' or false"
  end
  if opts.cmd ~= nil and type(opts.cmd) ~= 'table' and type(opts.cmd) ~= 'function' then
    return 'cmd must be a list of strings or a function'
  end
  if type(opts.python) ~= 'string' then
    return 'python must be a string'
  end
  if type(opts.filetypes) ~= 'table' or type(opts.root_markers) ~= 'table' then
    return 'filetypes and root_markers must be lists'
  end
  if type(opts.settings) ~= 'table' or type(opts.keymaps) ~= 'table' then
    return 'settings and keymaps must be tables'
  end
  if type(opts.debounce_ms) ~= 'number' or opts.debounce_ms < 0 then
    return 'debounce_ms must be a non-negative number'
  end
  return nil
end

--- Merge options over the defaults: defaults < vim.g.caveat < setup() argument. Invalid options
--- fall back to the defaults with a warning.
---@param user table|nil
---@return table
function M.resolve(user)
  local merged = vim.deepcopy(M.defaults)
  -- vim.g.caveat lets a project or a command line (`nvim --cmd 'let g:caveat = {...}'`) adjust
  -- options without editing the setup() call.
  for _, layer in ipairs({ type(vim.g.caveat) == 'table' and vim.g.caveat or {}, user or {} }) do
    merged = vim.tbl_deep_extend('force', merged, layer)
    -- Lists replace, they do not merge element-wise.
    for _, key in ipairs({ 'filetypes', 'root_markers', 'cmd' }) do
      if layer[key] ~= nil then
        merged[key] = layer[key]
      end
    end
  end
  local err = check(merged)
  if err then
    vim.notify('caveat: ' .. err .. '; using the defaults', vim.log.levels.WARN)
    return vim.deepcopy(M.defaults)
  end
  return merged
end

--- The command line that starts the server.
---@param opts table
---@return string[]|function
function M.server_cmd(opts)
  return opts.cmd or { opts.python, '-m', 'caveat', 'serve' }
end

return M
