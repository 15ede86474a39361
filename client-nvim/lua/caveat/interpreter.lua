--- Checks of the configured Python: is it there, does it import caveat, does `caveat doctor`
--- load the model. Used by :checkhealth caveat and to explain a server that would not start.
local M = {}

local function last_line(text)
  local lines = vim.split(vim.trim(text or ''), '\n', { plain = true })
  return lines[#lines] or ''
end

--- Run a command and wait for it; returns exit code, stdout, stderr.
---@param cmd string[]
---@param timeout_ms integer
---@return integer, string, string
local function run(cmd, timeout_ms)
  if vim.system then
    local ok, proc = pcall(vim.system, cmd, { text = true })
    if not ok then
      return -1, '', tostring(proc)
    end
    local res = proc:wait(timeout_ms)
    return res.code, res.stdout or '', res.stderr or ''
  end
  -- Neovim < 0.10: stdout and stderr come back together.
  local out = vim.fn.system(cmd)
  return vim.v.shell_error, out, out
end

--- Why `python` cannot be started, or nil when it is an executable.
---@param python string
---@return string|nil
function M.missing(python)
  if vim.fn.executable(python) == 1 then
    return nil
  end
  return ("python = '%s' is not an executable; set `python` in setup() to the interpreter "
    .. 'where caveat is installed'):format(python)
end

--- Import caveat with `python`; returns ok and the version or the reason it failed.
---@param python string
---@return boolean, string
function M.check_import(python)
  local missing = M.missing(python)
  if missing then
    return false, missing
  end
  local code, out, err = run({ python, '-c', 'import caveat; print(caveat.__version__)' }, 30000)
  if code ~= 0 then
    return false,
      ("%s cannot import caveat (%s); install it there: `pip install .` in a caveat checkout"):format(
        python,
        last_line(err ~= '' and err or out)
      )
  end
  return true, last_line(out)
end

--- The `caveat doctor` arguments that match the server settings (model path, threads, context).
---@param settings table
---@return string[]
function M.doctor_args(settings)
  local model = type(settings) == 'table' and type(settings.model) == 'table' and settings.model
    or {}
  local args = { '-m', 'caveat', 'doctor', '--json' }
  if type(model.path) == 'string' and model.path ~= '' then
    vim.list_extend(args, { '--model', model.path })
  end
  if type(model.threads) == 'number' then
    vim.list_extend(args, { '--threads', tostring(model.threads) })
  end
  if type(model.contextLength) == 'number' then
    vim.list_extend(args, { '--ctx', tostring(model.contextLength) })
  end
  return args
end

--- Run `python -m caveat doctor --json`, which loads the model; returns ok and the parsed report
--- or the reason it failed.
---@param python string
---@param settings table
---@param timeout_ms integer|nil
---@return boolean, table|string
function M.doctor(python, settings, timeout_ms)
  local cmd = vim.list_extend({ python }, M.doctor_args(settings))
  local code, out, err = run(cmd, timeout_ms or 120000)
  local ok, report = pcall(vim.json.decode, out)
  if code ~= 0 or not ok or type(report) ~= 'table' then
    local why = type(report) == 'table' and report.model_error or last_line(err ~= '' and err or out)
    return false, ('`%s` failed (exit %d): %s'):format(table.concat(cmd, ' '), code, why)
  end
  return true, report
end

--- Explain, with vim.notify, why the server exited early: the interpreter or its caveat.
---@param python string
---@param code integer exit code of the server
function M.explain_exit(python, code)
  local ok, why = M.check_import(python)
  if ok then
    why = ('the server exited with code %d; :LspLog has its output'):format(code)
  end
  vim.notify('caveat: ' .. why .. ' (:checkhealth caveat)', vim.log.levels.ERROR)
end

return M
