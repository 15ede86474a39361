--- Graded highlights over accepted text from `caveat/tokenConfidence` (off unless configured).
local util = require('caveat.util')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('caveat.confidence')

local level_hl = {
  hint = 'CaveatConfidenceHint',
  information = 'CaveatConfidenceInformation',
  warning = 'CaveatConfidenceWarning',
}

--- Replace the highlights of one document with the notification's token list.
function M.update(params, client_id)
  local opts = require('caveat').options
  if not (opts and opts.decorations) or not params or not params.uri then
    return
  end
  -- Only buffers that are open: vim.uri_to_bufnr would create one for any other URI.
  local bufnr = vim.fn.bufnr(vim.uri_to_fname(params.uri))
  if bufnr < 0 or not api.nvim_buf_is_loaded(bufnr) then
    return
  end
  local client = vim.lsp.get_client_by_id(client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local line_count = api.nvim_buf_line_count(bufnr)
  for _, tok in ipairs(params.tokens or {}) do
    local hl = level_hl[tok.level]
    local range = tok.range
    if hl and range and range['end'].line < line_count then
      local function byte_of(pos)
        local line = api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, true)[1]
        return util.column_to_byte(line, pos.character, encoding)
      end
      api.nvim_buf_set_extmark(bufnr, M.ns, range.start.line, byte_of(range.start), {
        end_row = range['end'].line,
        end_col = byte_of(range['end']),
        hl_group = hl,
      })
    end
  end
end

--- Remove every confidence highlight.
function M.clear_all()
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) then
      api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
    end
  end
end

return M
