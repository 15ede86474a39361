--- :checkhealth caveat
local M = {}

local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local err = health.error or health.report_error

--- Check the Neovim version, the options, the interpreter (imports caveat, loads the model).
function M.check()
  start('caveat')
  if vim.fn.has('nvim-0.8') == 0 then
    err('Neovim 0.8 or newer is required')
  end
  local caveat = require('caveat')
  if not caveat.options then
    warn("setup() has not been called: require('caveat').setup({})")
    return
  end
  local opts = caveat.options
  local config = require('caveat.config')
  for _, problem in ipairs(caveat.problems or {}) do
    warn('option ' .. problem)
  end
  local front = opts.inline == false and 'off'
    or require('caveat.completion').resolve_mode(opts, true)
  ok('completion front end: ' .. front)
  ok('server command: ' .. config.describe_cmd(opts))
  if opts.cmd == nil then
    local interpreter = require('caveat.interpreter')
    local imported, version = interpreter.check_import(opts.python)
    if not imported then
      err(version)
    else
      ok(('%s imports caveat %s'):format(opts.python, version))
      local loaded, report = interpreter.doctor(opts.python, opts.settings)
      if loaded then
        local model = report.model or {}
        ok(('caveat doctor loaded the model: %s (%s), context %s'):format(
          model.name or '?',
          model.path or '?',
          tostring(report.n_ctx)
        ))
      else
        err(report)
      end
    end
  else
    info('`cmd` is set: the interpreter checks are skipped')
  end
  local status = require('caveat.commands').status_line()
  if status == 'caveat: not running' then
    info(status .. ' (it starts with the first buffer of a configured filetype)')
  else
    ok(status)
  end
end

return M
