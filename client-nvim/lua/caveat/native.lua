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

--- Insert only the next word; Neovim then asks for a fresh completion of the rest.
---@return boolean
function M.accept_word(bufnr)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr,
    on_accept = function(item)
      local text = item.insert_text
      if type(text) ~= 'string' then
        text = text.value
      end
      local word = util.first_word(text)
      insert_at(bufnr, item, word)
      -- Only a complete insertion is a completion the server may attribute text to.
      local client = vim.lsp.get_client_by_id(item.client_id)
      if word == text and client and item.command then
        client_mod.execute(client, item.command.command, item.command.arguments, bufnr)
      end
    end,
  })
end

--- Hide the displayed item (re-enabling drops Neovim's pending state for the buffer).
function M.dismiss(bufnr)
  if vim.lsp.inline_completion.is_enabled({ bufnr = bufnr }) then
    M.set_enabled(bufnr, false)
    M.set_enabled(bufnr, true)
  end
end

return M
