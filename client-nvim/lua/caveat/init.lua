--- caveat for Neovim: local-model completions that show where the model was unsure.
---
--- require('caveat').setup({ python = '/path/to/venv/bin/python' })
local M = {}

--- Options in effect after setup() (nil before).
M.options = nil

--- What was wrong with the options given to setup() (each replaced by its default).
M.problems = {}

local function define_highlights()
  local links = {
    CaveatGhost = 'Comment',
    CaveatGhostHint = 'Comment',
    CaveatGhostInformation = 'DiagnosticVirtualTextInfo',
    CaveatGhostWarning = 'DiagnosticVirtualTextWarn',
    CaveatConfidenceHint = 'DiagnosticUnderlineHint',
    CaveatConfidenceInformation = 'DiagnosticUnderlineInfo',
    CaveatConfidenceWarning = 'DiagnosticUnderlineWarn',
  }
  for name, target in pairs(links) do
    vim.api.nvim_set_hl(0, name, { link = target, default = true })
  end
end

--- Configure caveat and register its language server for the configured filetypes.
---@param opts table|nil see client-nvim/README.md
function M.setup(opts)
  M.options, M.problems = require('caveat.config').resolve(opts)
  define_highlights()
  require('caveat.client').enable(M.options)
end

--- Change server settings at run time, e.g. set_settings({ completion = { maxTokens = 16 } }).
---@param settings table merged into the current `settings` option
function M.set_settings(settings)
  assert(M.options, 'caveat: call setup() first')
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings, settings)
  require('caveat.client').push_settings(M.options.settings)
end

--- Accept the whole suggestion in the current buffer; false when there is none.
function M.accept()
  return require('caveat.completion').accept(0)
end

--- Accept the next word of the suggestion; false when there is none.
function M.accept_word()
  return require('caveat.completion').accept_word(0)
end

--- Accept the rest of the suggestion's current line; false when there is none.
function M.accept_line()
  return require('caveat.completion').accept_line(0)
end

--- Hide the suggestion; false when there was none.
function M.dismiss()
  return require('caveat.completion').dismiss(0)
end

--- Request a suggestion at the cursor now (both front ends; also after a dismiss).
function M.trigger()
  return require('caveat.completion').trigger(0)
end

--- Show the next candidate (previous with `count` = -1); false when nothing is shown.
function M.next(count)
  return require('caveat.completion').cycle(0, count or 1)
end

--- Show the previous candidate.
function M.prev()
  return require('caveat.completion').cycle(0, -1)
end

--- Scan the current buffer for uncertain spans.
function M.scan()
  require('caveat.commands').scan()
end

--- Clear caveat diagnostics of the current buffer (or all buffers with `all = true`).
function M.clear(all)
  require('caveat.commands').clear(all)
end

--- Turn completions on or off: everywhere, or for the current 'buffer' or its 'filetype'.
---@param scope nil|'buffer'|'filetype'
function M.toggle(scope)
  require('caveat.commands').toggle(scope)
end

--- One-line status: server state, model, latency, completion mode.
function M.status()
  return require('caveat.commands').status_line()
end

--- Pick an alternative for the flagged span under the cursor.
function M.alternatives()
  require('caveat.commands').alternatives()
end

return M
