--- Chooses the completion front end per buffer (native inline completion or ghost text), keeps
--- completions on or off (everywhere, per filetype, per buffer) and owns caveat's keys.
local ghost = require('caveat.ghost')
local keymap = require('caveat.keymap')
local native = require('caveat.native')

local api = vim.api
local M = {}

--- Completions everywhere (:Caveat toggle).
M.enabled = true

--- filetype -> false when completions are off for it (:Caveat toggle filetype).
M.filetypes = {}

-- bufnr -> 'native' | 'ghost'
local modes = {}

local function buf(bufnr)
  return (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
end

--- The front end a buffer uses, or nil when caveat is not attached to it.
function M.mode(bufnr)
  return modes[buf(bufnr)]
end

--- 'native' or 'ghost' for the options; `quiet` skips the notice when native is unavailable.
function M.resolve_mode(opts, quiet)
  if opts.inline == 'native' then
    if native.available() then
      return 'native'
    end
    if not quiet then
      vim.notify('caveat: this Neovim has no vim.lsp.inline_completion; using ghost text')
    end
  end
  -- 'auto' picks ghost text everywhere: it is the front end that colours each token by the
  -- model's confidence, streams, and answers the trigger key.
  return 'ghost'
end

--- True when completions are on for a buffer: globally, for its filetype and for itself
--- (`vim.b.caveat_enabled = false` turns one buffer off).
function M.is_enabled(bufnr)
  bufnr = buf(bufnr)
  return M.enabled
    and M.filetypes[vim.bo[bufnr].filetype] ~= false
    and vim.b[bufnr].caveat_enabled ~= false
end

-- Bring each attached buffer in line with M.is_enabled.
local function refresh()
  for bufnr, mode in pairs(modes) do
    if api.nvim_buf_is_valid(bufnr) then
      local on = M.is_enabled(bufnr)
      if mode == 'native' then
        native.set_enabled(bufnr, on and bufnr == api.nvim_get_current_buf())
      elseif not on then
        ghost.dismiss(bufnr)
      end
    end
  end
end

--- Accept the whole suggestion; false when there is none.
function M.accept(bufnr)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    return native.accept(bufnr)
  end
  return modes[bufnr] == 'ghost' and ghost.accept(bufnr)
end

--- Accept the next word of the suggestion; false when there is none.
function M.accept_word(bufnr)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    return native.accept_word(bufnr)
  end
  return modes[bufnr] == 'ghost' and ghost.accept_word(bufnr)
end

--- Accept the rest of the suggestion's current line; false when there is none.
function M.accept_line(bufnr)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    return native.accept_line(bufnr)
  end
  return modes[bufnr] == 'ghost' and ghost.accept_line(bufnr)
end

--- Hide the suggestion; true when there was one.
function M.dismiss(bufnr)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    local shown = native.showing(bufnr)
    native.dismiss(bufnr)
    return shown
  elseif modes[bufnr] == 'ghost' then
    local shown = ghost.current(bufnr) ~= nil
    ghost.dismiss(bufnr)
    return shown
  end
  return false
end

--- Ask for a suggestion now, in either front end (also after a dismiss).
---@return boolean true when a request was sent
function M.trigger(bufnr)
  bufnr = buf(bufnr)
  if not M.is_enabled(bufnr) then
    return false
  end
  if modes[bufnr] == 'native' then
    return native.trigger(bufnr)
  end
  return modes[bufnr] == 'ghost' and ghost.request(bufnr, true)
end

--- Show the next (`count` 1) or previous (-1) candidate; false when nothing is shown.
--- Both modes cycle through the candidates the server returned (several on an explicit
--- trigger, or with the server's `completion.candidates`).
function M.cycle(bufnr, count)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    return native.cycle(bufnr, count)
  end
  return modes[bufnr] == 'ghost' and ghost.cycle(bufnr, count)
end

--- Turn completions on or off everywhere; returns the new state.
function M.set_enabled(enabled)
  M.enabled = enabled
  refresh()
  return enabled
end

--- Turn completions on or off for one buffer; returns the new state.
function M.set_buffer_enabled(bufnr, enabled)
  bufnr = buf(bufnr)
  vim.b[bufnr].caveat_enabled = enabled
  refresh()
  return enabled
end

--- Turn completions on or off for a filetype; returns the new state.
function M.set_filetype_enabled(filetype, enabled)
  if enabled then
    M.filetypes[filetype] = nil
  else
    M.filetypes[filetype] = false
  end
  refresh()
  return enabled
end

-- Neovim's own K (vim.lsp.buf.hover(), set when a client attaches) says "No information
-- available" where caveat flagged nothing: it is not a fallback.
local function lsp_default_hover(m)
  return m.desc == 'vim.lsp.buf.hover()'
end

local function hover_or_fallback(bufnr)
  require('caveat.hover').show(bufnr, function()
    keymap.fallback(bufnr, 'n', require('caveat').options.keymaps.hover, lsp_default_hover)
  end)
  return true
end

--- Set up completion for a buffer the caveat client just attached to.
function M.attach(_, bufnr)
  local opts = require('caveat').options
  local keys = opts.keymaps
  if keys.hover then
    keymap.set(bufnr, 'n', keys.hover, hover_or_fallback, 'hover', lsp_default_hover)
  end
  if opts.inline == false or modes[bufnr] then
    return
  end
  local mode = M.resolve_mode(opts)
  modes[bufnr] = mode
  if mode == 'native' then
    native.set_enabled(bufnr, M.is_enabled(bufnr))
    -- Neovim's inline-completion autocommands are not buffer-local: a hidden buffer's instance
    -- would keep asking for completions at the cursor of whatever buffer is current. Keep only
    -- the current buffer's instance alive.
    api.nvim_create_autocmd({ 'BufEnter', 'BufLeave' }, {
      buffer = bufnr,
      callback = function(args)
        native.set_enabled(bufnr, M.is_enabled(bufnr) and args.event == 'BufEnter')
      end,
    })
  else
    ghost.attach(bufnr, opts, function()
      return M.is_enabled(bufnr)
    end)
  end
  keymap.set(bufnr, 'i', keys.accept, M.accept, 'accept suggestion')
  keymap.set(bufnr, 'i', keys.accept_word, M.accept_word, 'accept next word')
  keymap.set(bufnr, 'i', keys.accept_line, M.accept_line, 'accept the line')
  keymap.set(bufnr, 'i', keys.dismiss, function(b)
    -- Then the key does what it did before too (<C-]> expands abbreviations).
    M.dismiss(b)
    return false
  end, 'dismiss suggestion')
  keymap.set(bufnr, 'i', keys.trigger, M.trigger, 'request a suggestion')
  keymap.set(bufnr, 'i', keys.next, function(b)
    return M.cycle(b, 1)
  end, 'next suggestion')
  keymap.set(bufnr, 'i', keys.prev, function(b)
    return M.cycle(b, -1)
  end, 'previous suggestion')
  api.nvim_create_autocmd('BufWipeout', {
    buffer = bufnr,
    once = true,
    callback = function()
      modes[bufnr] = nil
      keymap.forget(bufnr)
    end,
  })
end

return M
