--- :checkhealth caveat
local M = {}

local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local err = health.error or health.report_error

--- Check the Neovim version, the options and that the server can be started.
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
  local mode = require('caveat.native').available() and 'native inline completion'
    or 'ghost text'
  ok('completion front end: ' .. (caveat.options.inline == false and 'off' or mode))
  local cmd = require('caveat.config').server_cmd(caveat.options)
  if type(cmd) == 'table' then
    if vim.fn.executable(cmd[1]) == 1 then
      ok('server command: ' .. table.concat(cmd, ' '))
    else
      err(cmd[1] .. ' is not executable; set `python` or `cmd` in setup()')
    end
  end
  ok(require('caveat.commands').status_line())
end

return M
