--- Small pure helpers shared by the completion front ends.
local M = {}

--- Byte index (0-based) in `s` of the UTF-16 code-unit offset `units` (clamped to the end).
---@param s string
---@param units integer
---@return integer
function M.utf16_to_byte(s, units)
  local byte, count, len = 0, 0, #s
  while byte < len and count < units do
    local c = s:byte(byte + 1)
    local width = c >= 0xF0 and 4 or c >= 0xE0 and 3 or c >= 0xC0 and 2 or 1
    -- Characters outside the BMP take two UTF-16 code units.
    count = count + (width == 4 and 2 or 1)
    byte = byte + width
  end
  return math.min(byte, len)
end

--- Length of `s` in UTF-16 code units (the unit of CaveatCompletion token offsets).
---@param s string
---@return integer
function M.utf16_len(s)
  local units, byte = 0, 0
  while byte < #s do
    local c = s:byte(byte + 1)
    local width = c >= 0xF0 and 4 or c >= 0xE0 and 3 or c >= 0xC0 and 2 or 1
    units = units + (width == 4 and 2 or 1)
    byte = byte + width
  end
  return units
end

--- Byte index (0-based) of a position's `character` in a line, for the client's offset encoding.
---@param line string
---@param character integer
---@param encoding string 'utf-8' | 'utf-16' | 'utf-32'
---@return integer
function M.column_to_byte(line, character, encoding)
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  if encoding == 'utf-16' then
    return M.utf16_to_byte(line, character)
  end
  local byte, count = 0, 0
  while byte < #line and count < character do
    local c = line:byte(byte + 1)
    byte = byte + (c >= 0xF0 and 4 or c >= 0xE0 and 3 or c >= 0xC0 and 2 or 1)
    count = count + 1
  end
  return math.min(byte, #line)
end

--- A copy of a settings table where every empty table is a JSON object ({} would encode as []).
---@param value any
---@return any
function M.as_object(value)
  if type(value) ~= 'table' then
    return value
  end
  if next(value) == nil then
    return vim.empty_dict()
  end
  local out = {}
  for k, v in pairs(value) do
    out[k] = M.as_object(v)
  end
  return out
end

--- The next "word" of a completion: leading whitespace plus one identifier or punctuation run.
---@param text string
---@return string
function M.first_word(text)
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text
end

--- The next line of a completion, with the newline that ends it; a first line that is only
--- whitespace (a completion that starts a new line) takes the following line along.
---@param text string
---@return string
function M.first_line(text)
  local line = text:match('^[^\n]*\n')
  if not line then
    return text
  end
  if line:match('^%s*$') then
    local rest = text:sub(#line + 1)
    return line .. (rest:match('^[^\n]*\n') or rest)
  end
  return line
end

--- A server message without its own "caveat: " prefix (the client adds one where it needs it).
---@param message string
---@return string
function M.unprefixed(message)
  return (tostring(message):gsub('^caveat:%s*', ''))
end

--- Split `text` into ({text, hl} chunks per line), colouring each token by its level.
---@param text string the completion text
---@param tokens table[] CaveatCompletion tokens ({offset (UTF-16), level})
---@param hl_for fun(level: string|nil): string
---@return table[] lines, each a list of {text, hl} chunks
function M.ghost_lines(text, tokens, hl_for)
  local cuts = {}
  for _, tok in ipairs(tokens or {}) do
    cuts[#cuts + 1] = { byte = M.utf16_to_byte(text, tok.offset or 0), level = tok.level }
  end
  table.sort(cuts, function(a, b)
    return a.byte < b.byte
  end)
  local segments = {}
  local pos = 0
  local level = nil
  local function emit(upto)
    if upto > pos then
      segments[#segments + 1] = { text:sub(pos + 1, upto), hl_for(level) }
      pos = upto
    end
  end
  for _, cut in ipairs(cuts) do
    emit(cut.byte)
    level = cut.level ~= vim.NIL and cut.level or nil
  end
  emit(#text)
  local lines = { {} }
  for _, seg in ipairs(segments) do
    local parts = vim.split(seg[1], '\n', { plain = true })
    for i, part in ipairs(parts) do
      if i > 1 then
        lines[#lines + 1] = {}
      end
      if part ~= '' then
        table.insert(lines[#lines], { part, seg[2] })
      end
    end
  end
  return lines
end

return M
