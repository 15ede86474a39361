--- Options of the caveat Neovim client: defaults, merging and validation.
local M = {}

--- The defaults; every key is documented in client-nvim/README.md and doc/caveat.txt.
M.defaults = {
  -- Command that starts the server; nil = `python -m caveat serve` (see M.server_cmd).
  cmd = nil,
  -- Python interpreter that has caveat installed (used when `cmd` is nil).
  python = 'python3',
  filetypes = { 'python', 'javascript', 'typescript', 'rust', 'go', 'java', 'c', 'cpp' },
  root_markers = { 'pyproject.toml', 'setup.py', 'package.json', 'Cargo.toml', 'go.mod', '.git' },
  -- The server's settings tree (docs/PROTOCOL.md), e.g. { completion = { maxTokens = 32 } }.
  settings = {},
  -- 'auto' and 'ghost': streamed ghost text coloured by per-token confidence (every Neovim);
  -- 'native': Neovim 0.12's vim.lsp.inline_completion (one colour, several candidates);
  -- false turns completion display off (diagnostics stay).
  inline = 'auto',
  -- Ghost mode only: request a completion as you type (else only on the trigger key).
  auto_trigger = true,
  -- Ghost mode only: wait this long after the last keystroke before asking the server.
  debounce_ms = 150,
  -- Keys, buffer-local; set one to false to leave it unmapped. All but `hover` are insert-mode.
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-C-Right>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
    next = '<M-]>',
    prev = '<M-[>',
    -- Normal mode: caveat's hover on a flagged span, else what K did before (keywordprg).
    hover = 'K',
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

local inline_values = { auto = true, native = true, ghost = true }

local function is_list_of_strings(value)
  if type(value) ~= 'table' then
    return false
  end
  for _, item in ipairs(value) do
    if type(item) ~= 'string' then
      return false
    end
  end
  return #value == vim.tbl_count(value)
end

-- One check per option: returns nil when the value is valid, else what it must be.
local checks = {
  cmd = function(v)
    if v ~= nil and not is_list_of_strings(v) and type(v) ~= 'function' then
      return 'a list of strings or a function'
    end
  end,
  python = function(v)
    if type(v) ~= 'string' or v == '' then
      return 'the path or name of a Python interpreter'
    end
  end,
  filetypes = function(v)
    if not is_list_of_strings(v) then
      return 'a list of filetypes'
    end
  end,
  root_markers = function(v)
    if not is_list_of_strings(v) then
      return 'a list of file names'
    end
  end,
  settings = function(v)
    if type(v) ~= 'table' then
      return 'a table (the server settings tree)'
    end
  end,
  inline = function(v)
    if v ~= false and not inline_values[v] then
      return "'auto', 'native', 'ghost' or false"
    end
  end,
  auto_trigger = function(v)
    if type(v) ~= 'boolean' then
      return 'true or false'
    end
  end,
  debounce_ms = function(v)
    if type(v) ~= 'number' or v < 0 then
      return 'a non-negative number'
    end
  end,
  keymaps = function(v)
    if type(v) ~= 'table' then
      return 'a table of keys'
    end
  end,
  diagnostics = function(v)
    if type(v) ~= 'table' then
      return 'a table of vim.diagnostic options'
    end
  end,
  decorations = function(v)
    if type(v) ~= 'boolean' then
      return 'true or false'
    end
  end,
  notify_errors = function(v)
    if type(v) ~= 'boolean' then
      return 'true or false'
    end
  end,
}

local function show(value)
  return type(value) == 'string' and ("'%s'"):format(value) or vim.inspect(value)
end

--- Replace each invalid option of `merged` by its default; returns one problem per bad option.
---@param merged table
---@return string[]
local function repair(merged)
  local problems = {}
  local names = vim.tbl_keys(merged)
  table.sort(names)
  for _, name in ipairs(names) do
    local check = checks[name]
    local why = check and check(merged[name])
    if not check then
      problems[#problems + 1] = ('unknown option %s (ignored)'):format(name)
      merged[name] = nil
    elseif why then
      problems[#problems + 1] = ('%s = %s must be %s; using the default'):format(
        name,
        show(merged[name]),
        why
      )
      merged[name] = vim.deepcopy(M.defaults[name])
    end
  end
  -- Keys one by one, so a typo in one leaves the others mapped.
  for key, lhs in pairs(merged.keymaps) do
    if M.defaults.keymaps[key] == nil then
      problems[#problems + 1] = ('unknown key keymaps.%s (ignored)'):format(key)
      merged.keymaps[key] = nil
    elseif lhs ~= false and (type(lhs) ~= 'string' or lhs == '') then
      problems[#problems + 1] = ('keymaps.%s = %s must be a key or false; using %s'):format(
        key,
        show(lhs),
        M.defaults.keymaps[key]
      )
      merged.keymaps[key] = M.defaults.keymaps[key]
    end
  end
  table.sort(problems)
  return problems
end

--- Merge options over the defaults: defaults < vim.g.caveat < setup() argument. An invalid
--- option falls back to its own default with a warning; the other options are kept.
---@param user table|nil
---@return table options, string[] problems
function M.resolve(user)
  local merged = vim.deepcopy(M.defaults)
  -- vim.g.caveat lets a project or a command line (`nvim --cmd 'let g:caveat = {...}'`) adjust
  -- options without editing the setup() call.
  local replaced = { filetypes = true, root_markers = true, cmd = true }
  local layers = { type(vim.g.caveat) == 'table' and vim.g.caveat or {}, user or {} }
  for _, layer in ipairs(layers) do
    for key, value in pairs(layer) do
      if type(value) == 'table' and type(merged[key]) == 'table' and not replaced[key] then
        -- Tables like settings and keymaps merge key by key...
        merged[key] = vim.tbl_deep_extend('force', merged[key] or {}, value)
      else
        -- ...lists (filetypes, cmd) and everything else replace.
        merged[key] = value
      end
    end
  end
  local problems = repair(merged)
  if #problems > 0 then
    vim.notify('caveat: invalid options:\n  ' .. table.concat(problems, '\n  '), vim.log.levels.WARN)
  end
  return merged, problems
end

-- Start the server with its info and warnings kept off stderr: Neovim logs every stderr line as
-- [ERROR], and the server already sends caveat's records as window/logMessage, which Neovim logs
-- at their own level. stderr keeps errors, other libraries' warnings and crashes.
-- (`caveat serve` installs its own stderr handler only when the root logger has none.)
local BOOTSTRAP = table.concat({
  'import logging,runpy,sys',
  'h=logging.StreamHandler()',
  'h.setLevel(logging.WARNING)',
  "h.addFilter(lambda r:r.levelno>=logging.ERROR or not r.name.startswith('caveat'))",
  'logging.getLogger().addHandler(h)',
  "sys.argv=['caveat']+sys.argv[1:]",
  "runpy.run_module('caveat',run_name='__main__',alter_sys=True)",
}, ';')

--- The command line that starts the server.
---@param opts table
---@return string[]|function
function M.server_cmd(opts)
  return opts.cmd or { opts.python, '-c', BOOTSTRAP, 'serve' }
end

--- The server command as a person would type it (for messages and :checkhealth).
---@param opts table
---@return string
function M.describe_cmd(opts)
  if opts.cmd == nil then
    return opts.python .. ' -m caveat serve'
  end
  return type(opts.cmd) == 'table' and table.concat(opts.cmd, ' ') or '<function>'
end

return M
