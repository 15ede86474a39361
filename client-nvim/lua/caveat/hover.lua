--- The hover key: caveat's explanation on a flagged span, other servers' hovers as usual, and
--- where nobody has anything, what the key did before (keywordprg, or the user's mapping).
local client_mod = require('caveat.client')

local api = vim.api
local M = {}

local function has_contents(result)
  local contents = type(result) == 'table' and result.contents
  if type(contents) == 'string' then
    return contents ~= ''
  end
  if type(contents) ~= 'table' then
    return false
  end
  local value = contents.value or (contents[1] and (contents[1].value or contents[1]))
  return type(value) == 'string' and value ~= ''
end

-- Another attached client that answers hovers: then vim.lsp.buf.hover() has a provider besides
-- caveat and shows whatever any of them returns.
local function other_hover_client(bufnr)
  local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients
  for _, client in ipairs(get_clients({ bufnr = bufnr })) do
    if client.name ~= client_mod.name then
      local caps = client.server_capabilities or {}
      if caps.hoverProvider then
        return true
      end
    end
  end
  return false
end

--- Show the hover at the cursor, or call `fallback()` when only caveat answers and it has
--- nothing here.
function M.show(bufnr, fallback)
  if other_hover_client(bufnr) then
    vim.lsp.buf.hover()
    return
  end
  local client = client_mod.get(bufnr)
  if not client then
    fallback()
    return
  end
  local win = api.nvim_get_current_win()
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  client_mod.request(client, 'textDocument/hover', params, function(err, result)
    if err or not has_contents(result) then
      fallback()
      return
    end
    local lines = vim.lsp.util.convert_input_to_markdown_lines(result.contents)
    vim.lsp.util.open_floating_preview(lines, 'markdown', { focus_id = 'textDocument/hover' })
  end, bufnr)
end

return M
