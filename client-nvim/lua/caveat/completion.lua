--- Chooses the completion front end per buffer (native inline completion or ghost text) and
--- owns the insert-mode keymaps.
local ghost = require('caveat.ghost')
local native = require('caveat.native')

local api = vim.api
local M = {}

M.enabled = true

-- bufnr -> 'native' | 'ghost'
local modes = {}

--- The front end a buffer uses, or nil when caveat is not attached to it.
function M.mode(bufnr)
  return modes[(bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr]
end

local function resolve_mode(opts)
  if opts.inline == 'native' or (opts.inline == 'auto' and native.available()) then
    if not native.available() then
      vim.notify('caveat: this Neovim has no vim.lsp.inline_completion; using ghost text')
      return 'ghost'
    end
    return 'native'
  end
  return 'ghost'
end

local function buf(bufnr)
  return (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
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

--- Hide the suggestion.
function M.dismiss(bufnr)
  bufnr = buf(bufnr)
  if modes[bufnr] == 'native' then
    native.dismiss(bufnr)
  elseif modes[bufnr] == 'ghost' then
    ghost.dismiss(bufnr)
  end
end

--- Ask for a suggestion now (ghost text; native completion requests by itself as you type).
function M.trigger(bufnr)
  bufnr = buf(bufnr)
  return M.enabled and modes[bufnr] == 'ghost' and ghost.request(bufnr)
end

--- Turn completions on or off in every attached buffer; returns the new state.
function M.set_enabled(enabled)
  M.enabled = enabled
  for bufnr, mode in pairs(modes) do
    if api.nvim_buf_is_valid(bufnr) then
      if mode == 'native' then
        native.set_enabled(bufnr, enabled)
      elseif not enabled then
        ghost.dismiss(bufnr)
      end
    end
  end
  return enabled
end

local function map(bufnr, lhs, fn, desc)
  if not lhs then
    return
  end
  vim.keymap.set('i', lhs, function()
    if fn(bufnr) then
      return ''
    end
    return lhs
  end, { buffer = bufnr, expr = true, desc = desc })
end

--- Set up completion for a buffer the caveat client just attached to.
function M.attach(_, bufnr)
  local opts = require('caveat').options
  if opts.inline == false or modes[bufnr] then
    return
  end
  local mode = resolve_mode(opts)
  modes[bufnr] = mode
  if mode == 'native' then
    native.set_enabled(bufnr, M.enabled)
    -- Neovim's inline-completion autocommands are not buffer-local: a hidden buffer's instance
    -- would keep asking for completions at the cursor of whatever buffer is current. Keep only
    -- the current buffer's instance alive.
    api.nvim_create_autocmd({ 'BufEnter', 'BufLeave' }, {
      buffer = bufnr,
      callback = function(args)
        native.set_enabled(bufnr, M.enabled and args.event == 'BufEnter')
      end,
    })
  else
    ghost.attach(bufnr, opts, function()
      return M.enabled
    end)
  end
  local keys = opts.keymaps
  map(bufnr, keys.accept, M.accept, 'caveat: accept suggestion')
  map(bufnr, keys.accept_word, M.accept_word, 'caveat: accept next word')
  map(bufnr, keys.dismiss, function(b)
    M.dismiss(b)
    return false
  end, 'caveat: dismiss suggestion')
  if mode == 'ghost' then
    map(bufnr, keys.trigger, M.trigger, 'caveat: request a suggestion')
  end
  api.nvim_create_autocmd('BufWipeout', {
    buffer = bufnr,
    once = true,
    callback = function()
      modes[bufnr] = nil
    end,
  })
end

return M
