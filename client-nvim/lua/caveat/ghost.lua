--- Ghost text for Neovim without vim.lsp.inline_completion: streams `caveat/complete` partial
--- results into extmarks, coloured by per-token confidence.
local client_mod = require('caveat.client')
local util = require('caveat.util')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('caveat.ghost')

-- One live suggestion per buffer: { client_id, token, request_id, row, col, tick, text, tokens,
-- id, done, accept_pending }.
local states = {}
local timers = {}
local seq = 0

-- 'inline' virtual text exists from 0.10; older versions show the first line at end of line.
local virt_pos = vim.fn.has('nvim-0.10') == 1 and 'inline' or 'eol'

local level_hl = {
  hint = 'CaveatGhostHint',
  information = 'CaveatGhostInformation',
  warning = 'CaveatGhostWarning',
}

local function hl_for(level)
  return level_hl[level] or 'CaveatGhost'
end

local function draw(bufnr, state)
  api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  if state.text == '' then
    return
  end
  local lines = util.ghost_lines(state.text, state.tokens, hl_for)
  local first = lines[1]
  local rest = { unpack(lines, 2) }
  local mark = { virt_text_pos = virt_pos, hl_mode = 'combine' }
  if #first > 0 then
    mark.virt_text = first
  end
  if #rest > 0 then
    mark.virt_lines = rest
  end
  api.nvim_buf_set_extmark(bufnr, M.ns, state.row, state.col, mark)
end

-- The suggestion is still valid when nothing moved since it was requested (or partly accepted).
local function still_valid(bufnr, state)
  if api.nvim_get_current_buf() ~= bufnr then
    return false
  end
  local cursor = api.nvim_win_get_cursor(0)
  return api.nvim_buf_get_changedtick(bufnr) == state.tick
    and cursor[1] - 1 == state.row
    and cursor[2] == state.col
end

--- Remove the suggestion of a buffer and cancel its request.
---@param bufnr integer|nil
function M.dismiss(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local state = states[bufnr]
  states[bufnr] = nil
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
  if state and not state.done and state.request_id then
    local client = vim.lsp.get_client_by_id(state.client_id)
    if client then
      client_mod.cancel(client, state.request_id)
    end
  end
end

--- The live suggestion of a buffer (nil when none): text, id, done, row, col.
function M.current(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  return states[bufnr]
end

local function insert(bufnr, state, text)
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, state.row, state.col, state.row, state.col, lines)
  local row = state.row + #lines - 1
  local col = (#lines == 1 and state.col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { row + 1, col })
  return row, col
end

local function accept_now(bufnr, state)
  if states[bufnr] ~= state or not still_valid(bufnr, state) then
    M.dismiss(bufnr)
    return
  end
  M.dismiss(bufnr)
  insert(bufnr, state, state.text)
  local client = vim.lsp.get_client_by_id(state.client_id)
  if client and state.id then
    client_mod.accept(client, state.id, bufnr)
  end
end

--- Insert the whole suggestion and report it; a suggestion still streaming is accepted when done.
---@return boolean true when there was a suggestion to accept
function M.accept(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local state = states[bufnr]
  if not state or not still_valid(bufnr, state) then
    return false
  end
  if not state.done then
    state.accept_pending = true
    return true
  end
  -- Scheduled so the function also works from an <expr> mapping (textlock).
  vim.schedule(function()
    accept_now(bufnr, state)
  end)
  return true
end

-- Insert `cut(text)` of the finished suggestion; the rest stays as ghost text.
local function accept_part(bufnr, cut)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local state = states[bufnr]
  if not state or not state.done or not still_valid(bufnr, state) then
    return false
  end
  vim.schedule(function()
    if states[bufnr] ~= state or not still_valid(bufnr, state) then
      return
    end
    local part = cut(state.text)
    if part == state.text then
      -- The last part completes the whole suggestion: report it like a full accept.
      accept_now(bufnr, state)
      return
    end
    state.row, state.col = insert(bufnr, state, part)
    state.tick = api.nvim_buf_get_changedtick(bufnr)
    state.text = state.text:sub(#part + 1)
    -- Keep the colours of the tokens that are still ahead, their offsets moved to the new start.
    local consumed = util.utf16_len(part)
    local rest = {}
    for _, tok in ipairs(state.tokens or {}) do
      if (tok.offset or 0) >= consumed then
        rest[#rest + 1] = vim.tbl_extend('force', tok, { offset = tok.offset - consumed })
      end
    end
    state.tokens = rest
    state.partial = true
    draw(bufnr, state)
  end)
  return true
end

--- Insert the next word of the finished suggestion; the rest stays as ghost text.
---@return boolean true when there was a word to accept
function M.accept_word(bufnr)
  return accept_part(bufnr, util.first_word)
end

--- Insert the rest of the suggestion's current line with its newline; the rest stays.
---@return boolean true when there was a line to accept
function M.accept_line(bufnr)
  return accept_part(bufnr, util.first_line)
end

local function on_result(bufnr, state, err, result)
  if states[bufnr] ~= state then
    return
  end
  state.done = true
  if err or not result or result.stopReason == 'cancelled' or (result.text or '') == '' then
    M.dismiss(bufnr)
    return
  end
  state.text, state.tokens, state.id = result.text, result.tokens or {}, result.id
  -- Several candidates: the streamed one stays first (it is on screen), then the others in the
  -- server's order (most confident first), without repeated texts.
  state.candidates = { { id = result.id, text = result.text, tokens = state.tokens } }
  state.index = 1
  local seen = { [result.text] = true }
  for _, c in ipairs(result.candidates or {}) do
    if c.id ~= result.id and type(c.text) == 'string' and c.text ~= '' and not seen[c.text] then
      seen[c.text] = true
      table.insert(state.candidates, { id = c.id, text = c.text, tokens = c.tokens or {} })
    end
  end
  if not still_valid(bufnr, state) then
    M.dismiss(bufnr)
    return
  end
  draw(bufnr, state)
  if state.accept_pending then
    accept_now(bufnr, state)
  end
end

--- Handle a `$/progress` notification; true when it was a partial result of ours.
function M.on_partial(params, ctx)
  for bufnr, state in pairs(states) do
    if state.token == params.token and state.client_id == ctx.client_id then
      local value = params.value or {}
      if not state.done and type(value.text) == 'string' then
        state.text = state.text .. value.text
        vim.list_extend(state.tokens, value.tokens or {})
        state.id = value.id or state.id
        if api.nvim_buf_is_valid(bufnr) then
          draw(bufnr, state)
        end
      end
      return true
    end
  end
  return false
end

--- Show the next (`count` 1) or previous (-1) candidate of the finished suggestion.
---@return boolean true when a suggestion is shown (with one candidate it stays as it is)
function M.cycle(bufnr, count)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local state = states[bufnr]
  if not state or not still_valid(bufnr, state) then
    return false
  end
  local cands = state.candidates
  if not state.done or not cands or #cands < 2 then
    return true
  end
  state.index = (state.index - 1 + count) % #cands + 1
  local c = cands[state.index]
  state.text, state.tokens, state.id = c.text, c.tokens, c.id
  draw(bufnr, state)
  return true
end

--- Candidates an explicit request asks for (the user pressed the trigger key).
M.EXPLICIT_CANDIDATES = 3

--- Ask the server for a completion at the cursor of the current window; `explicit` (the user
--- asked) also asks for a few candidates to cycle through.
---@return boolean true when a request was sent
function M.request(bufnr, explicit)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local client = client_mod.get(bufnr)
  if not client or api.nvim_get_current_buf() ~= bufnr then
    return false
  end
  M.dismiss(bufnr)
  seq = seq + 1
  local cursor = api.nvim_win_get_cursor(0)
  local state = {
    client_id = client.id,
    token = ('caveat-ghost-%d'):format(seq),
    row = cursor[1] - 1,
    col = cursor[2],
    tick = api.nvim_buf_get_changedtick(bufnr),
    text = '',
    tokens = {},
    done = false,
  }
  states[bufnr] = state
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.partialResultToken = state.token
  if explicit then
    params.n = M.EXPLICIT_CANDIDATES
  end
  local ok, request_id = client_mod.request(client, 'caveat/complete', params, function(err, result)
    on_result(bufnr, state, err, result)
  end, bufnr)
  state.request_id = ok and request_id or nil
  return ok and true or false
end

--- True when `typed` (inserted on the suggestion's line since it was asked for) is the start of
--- the suggestion's text: the server's typed-ahead cache answers such a key without the model.
---@param text string
---@param typed string
---@return boolean
function M.continues(text, typed)
  return #typed > 0 and not typed:find('\n', 1, true) and text:sub(1, #typed) == typed
end

--- True when the keys typed since `state` was asked for continue its text (same line).
local function typed_ahead(bufnr, state)
  local cursor = api.nvim_win_get_cursor(0)
  if api.nvim_get_current_buf() ~= bufnr or cursor[1] - 1 ~= state.row or cursor[2] <= state.col then
    return false
  end
  local line = api.nvim_buf_get_lines(bufnr, state.row, state.row + 1, false)[1] or ''
  return M.continues(state.text, line:sub(state.col + 1, cursor[2]))
end

local function schedule_request(bufnr, delay)
  local timer = timers[bufnr]
  if not timer then
    timer = (vim.uv or vim.loop).new_timer()
    timers[bufnr] = timer
  end
  timer:stop()
  timer:start(delay, 0, vim.schedule_wrap(function()
    if api.nvim_buf_is_valid(bufnr) and api.nvim_get_mode().mode:sub(1, 1) == 'i' then
      M.request(bufnr)
    end
  end))
end

--- Drive the ghost text from insert-mode events in a buffer.
function M.attach(bufnr, opts, is_enabled)
  local group = api.nvim_create_augroup(('caveat.ghost.%d'):format(bufnr), { clear = true })
  api.nvim_create_autocmd({ 'TextChangedI', 'TextChangedP' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      local state = states[bufnr]
      if state and still_valid(bufnr, state) then
        return
      end
      -- A key that continues the suggestion is answered at once from the server's typed-ahead
      -- cache: waiting out the debounce would only delay it.
      local cache = vim.tbl_get(opts.settings or {}, 'completion', 'typedAheadCache') ~= false
      local delay = (cache and state and typed_ahead(bufnr, state)) and 0 or opts.debounce_ms
      M.dismiss(bufnr)
      if opts.auto_trigger and is_enabled() then
        schedule_request(bufnr, delay)
      end
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      if timers[bufnr] then
        timers[bufnr]:stop()
      end
      M.dismiss(bufnr)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
      if timers[bufnr] then
        timers[bufnr]:close()
        timers[bufnr] = nil
      end
    end,
  })
end

return M
