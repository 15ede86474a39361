--- Buffer-local keys that fall back to what the key did before caveat mapped it: the user's own
--- mapping (buffer-local or global) or, without one, the key itself.
local api = vim.api
local M = {}

-- bufnr -> { [mode .. lhs] = maparg() dict of the buffer-local mapping ours replaced }
local replaced = {}
-- mode .. lhs -> number in the name of the <Plug> key that replays its original mapping
local plugs = {}

--- Marker in `desc` of every mapping caveat sets.
M.DESC = 'caveat: '

local function termcodes(keys)
  return api.nvim_replace_termcodes(keys, true, false, true)
end

local function same_lhs(m, lhs)
  return m.lhs == lhs or m.lhsraw == termcodes(lhs)
end

local function ours(m)
  return type(m.desc) == 'string' and vim.startswith(m.desc, M.DESC)
end

--- The mapping a key had before ours: the buffer-local one we replaced, else the global one.
--- Mappings for which `skip(m)` is true count as none (e.g. Neovim's own LSP default for K).
---@return table|nil maparg()-style dict
function M.original(bufnr, mode, lhs, skip)
  local saved = replaced[bufnr] and replaced[bufnr][mode .. lhs]
  local candidates = {}
  if saved then
    candidates[1] = saved
  end
  for _, m in ipairs(api.nvim_get_keymap(mode)) do
    if same_lhs(m, lhs) then
      candidates[#candidates + 1] = m
    end
  end
  for _, m in ipairs(candidates) do
    if not ours(m) and not (skip and skip(m)) then
      return m
    end
  end
  return nil
end

--- Do what `lhs` would have done without caveat's mapping.
function M.fallback(bufnr, mode, lhs, skip)
  local m = M.original(bufnr, mode, lhs, skip)
  -- A count typed before a normal-mode key (3K) goes with it.
  local count = (mode == 'n' and vim.v.count > 0) and tostring(vim.v.count) or ''
  if not m then
    -- No mapping: the key's built-in meaning, not remapped (that would find ours again).
    api.nvim_feedkeys(count .. termcodes(lhs), 'in', false)
    return
  end
  -- Replay the original mapping through a <Plug> key defined like it: same rhs or callback,
  -- expr, noremap; script-local <SID> names resolved to the script that defined it.
  local key = mode .. lhs
  plugs[key] = plugs[key] or vim.tbl_count(plugs) + 1
  local plug = ('<Plug>(caveat-fallback-%d)'):format(plugs[key])
  local rhs = m.rhs or ''
  if (m.sid or 0) > 0 then
    rhs = rhs:gsub('<[Ss][Ii][Dd]>', ('<SNR>%d_'):format(m.sid))
  end
  local opts = {
    expr = m.expr == 1,
    noremap = m.noremap == 1,
    silent = m.silent == 1,
    nowait = m.nowait == 1,
    callback = m.callback,
    desc = M.DESC .. 'fallback',
  }
  if opts.expr then
    opts.replace_keycodes = m.replace_keycodes == 1
  end
  if m.callback then
    rhs = ''
  end
  api.nvim_buf_set_keymap(bufnr, mode, plug, rhs, opts)
  api.nvim_feedkeys(count .. termcodes(plug), 'im', false)
end

--- Map `lhs` in `mode` for a buffer: `fn(bufnr)` acts and returns true, or returns false and the
--- key falls back to what it did before (see M.fallback).
---@param skip fun(m: table): boolean|nil originals to ignore
function M.set(bufnr, mode, lhs, fn, desc, skip)
  if not lhs then
    return
  end
  for _, existing in ipairs(api.nvim_buf_get_keymap(bufnr, mode)) do
    if same_lhs(existing, lhs) and not ours(existing) then
      replaced[bufnr] = replaced[bufnr] or {}
      replaced[bufnr][mode .. lhs] = existing
    end
  end
  vim.keymap.set(mode, lhs, function()
    if not fn(bufnr) then
      M.fallback(bufnr, mode, lhs, skip)
    end
  end, { buffer = bufnr, desc = M.DESC .. desc })
end

--- Forget what a wiped-out buffer had mapped.
function M.forget(bufnr)
  replaced[bufnr] = nil
end

return M
