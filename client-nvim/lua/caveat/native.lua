--- Inline completion through Neovim's own vim.lsp.inline_completion (0.12+).
local client_mod = require('caveat.client')
local util = require('caveat.util')

local api = vim.api
local M = {}

--- True when the running Neovim has native inline completion.
function M.available()
  local inline = vim.lsp.inline_completion
  return type(inline) == 'table' and inline.enable ~= nil
end

--- Turn native inline completion on or off for a buffer.
function M.set_enabled(bufnr, enabled)
  vim.lsp.inline_completion.enable(enabled, { bufnr = bufnr })
end

--- Accept the displayed item; Neovim runs its `caveat.accept` command after inserting it.
---@return boolean
function M.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr })
end

local function insert_at(bufnr, item, text)
  local row, col
  if item.range then
    row, col = item.range.start.row, item.range.start.col
  else
    local cursor = api.nvim_win_get_cursor(0)
    row, col = cursor[1] - 1, cursor[2]
  end
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  api.nvim_win_set_cursor(0, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
end

-- Insert the part `cut(text)` of the displayed item; Neovim then asks for a fresh completion.
local function accept_part(bufnr, cut)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = item.insert_text
      if type(text) ~= 'string' then
        text = text.value
      end
      local part = cut(text)
      insert_at(bufnr, item, part)
      -- Only a complete insertion is a completion the server may attribute text to.
      local client = vim.lsp.get_client_by_id(item.client_id)
      if part == text and client and item.command then
        client_mod.execute(client, item.command.command, item.command.arguments, bufnr)
      end
    end,
  })
end

--- Insert only the next word.
---@return boolean
function M.accept_word(bufnr)
  return accept_part(bufnr, util.first_word)
end

--- Insert only the rest of the current line (with its newline).
---@return boolean
function M.accept_line(bufnr)
  return accept_part(bufnr, util.first_line)
end

--- True when an item is displayed in the buffer.
function M.showing(bufnr)
  local ns = api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  return ns ~= nil and #api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { limit = 1 }) > 0
end

--- Show the next (count 1) or previous (-1) candidate when the server offered several.
---@return boolean true when an item was displayed
function M.cycle(bufnr, count)
  if not M.showing(bufnr) then
    return false
  end
  vim.lsp.inline_completion.select({ bufnr = bufnr, count = count })
  return true
end

--- Ask for a completion now (triggerKind Invoked: the server skips its debounce).
--- Neovim 0.12 has no public call for it; this uses the buffer's inline-completion instance.
---@return boolean true when a request was sent
function M.trigger(bufnr)
  local ok, capability = pcall(require, 'vim.lsp._capability')
  local class = ok and type(capability.all) == 'table' and capability.all.inline_completion
  local completor = class and class.active and class.active[bufnr]
  if not completor or type(completor.request) ~= 'function' then
    return false
  end
  completor:request(vim.lsp.protocol.InlineCompletionTriggerKind.Invoked)
  return true
end

--- Hide the displayed item (re-enabling drops Neovim's pending state for the buffer).
function M.dismiss(bufnr)
  if vim.lsp.inline_completion.is_enabled({ bufnr = bufnr }) then
    M.set_enabled(bufnr, false)
    M.set_enabled(bufnr, true)
  end
end

return M
