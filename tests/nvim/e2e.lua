-- End-to-end script for tests/test_nvim.py: runs inside a headless Neovim started with
-- client-nvim/init.lua, drives it like a user (insert mode, accept keys, :Caveat) and writes what
-- Neovim saw to $CAVEAT_E2E_OUT as JSON. The Python test makes the assertions; this script only
-- fails by itself when an expected event never arrives (each wait has a timeout).
local api = vim.api
local out_path = assert(vim.env.CAVEAT_E2E_OUT, 'CAVEAT_E2E_OUT is not set')
local ghost_file = assert(vim.env.CAVEAT_E2E_GHOST_FILE, 'CAVEAT_E2E_GHOST_FILE is not set')
local results = { requests = {}, notifications = {}, publishes = {}, partials = 0 }

local function fail(msg)
  error(msg, 0)
end

-- Record every request Neovim sends to the caveat server and every diagnostics publish.
local function instrument(client)
  local original = client.request
  client.request = function(self, method, params, handler, bufnr)
    local entry = { method = method, params = params, publishes_before = #results.publishes }
    table.insert(results.requests, entry)
    -- Requests sent without a handler (exec_cmd) use the client's or Neovim's default one.
    local inner = handler or self.handlers[method] or vim.lsp.handlers[method]
    local function wrapped(err, result, ctx, config)
      entry.result, entry.err, entry.answered = result, err, true
      if inner then
        return inner(err, result, ctx, config)
      end
    end
    return original(self, method, params, wrapped, bufnr)
  end
end

local default_publish = vim.lsp.handlers['textDocument/publishDiagnostics']
vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, params, ctx, config)
  table.insert(results.publishes, { uri = params.uri, count = #params.diagnostics })
  return default_publish(err, params, ctx, config)
end

vim.notify = function(msg, level)
  table.insert(results.notifications, { msg = msg, level = level })
end

local ghost = require('caveat.ghost')
local on_partial = ghost.on_partial
ghost.on_partial = function(params, ctx)
  local ours = on_partial(params, ctx)
  if ours then
    results.partials = results.partials + 1
  end
  return ours
end

-- Turn on graded decorations and keep the last caveat/tokenConfidence per URI.
require('caveat').options.decorations = true
local decorations = require('caveat.decorations')
local update = decorations.update
results.confidence = {}
decorations.update = function(params, client_id)
  update(params, client_id)
  local leveled = 0
  for _, tok in ipairs(params.tokens or {}) do
    if tok.level ~= vim.NIL and tok.level ~= nil then
      leveled = leveled + 1
    end
  end
  results.confidence[params.uri] = { tokens = #(params.tokens or {}), leveled = leveled }
end

-- Coroutine helpers: yield to the main loop between polls so insert mode, timers and RPC run.
local co
local function sleep(ms)
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      results.error = debug.traceback(co, err)
      vim.fn.writefile({ vim.json.encode(results) }, out_path)
      vim.cmd('cquit 1')
    end
  end, ms)
  coroutine.yield()
end

local function wait_for(what, timeout_ms, cond)
  local deadline = vim.uv.now() + timeout_ms
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      fail('timed out waiting for ' .. what)
    end
    sleep(20)
  end
end

local function caveat_client(bufnr)
  return vim.lsp.get_clients({ name = 'caveat', bufnr = bufnr })[1]
end

local function caveat_diagnostics(client, bufnr)
  local ns = vim.lsp.diagnostic.get_namespace(client.id, false)
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr, { namespace = ns })) do
    table.insert(list, {
      lnum = d.lnum,
      col = d.col,
      end_lnum = d.end_lnum,
      end_col = d.end_col,
      severity = d.severity,
      source = d.source,
      code = d.code,
      message = d.message,
      lsp = d.user_data and d.user_data.lsp,
    })
  end
  return list
end

-- Number of diagnostics publishes for a buffer, counting only those after index `since`.
local function publishes_for(bufnr, since)
  local uri = vim.uri_from_bufnr(bufnr)
  local n = 0
  for i, p in ipairs(results.publishes) do
    if p.uri == uri and i > (since or 0) then
      n = n + 1
    end
  end
  return n
end

local function lines(bufnr)
  return api.nvim_buf_get_lines(bufnr, 0, -1, true)
end

-- Enter insert mode at the end of the last line, as `GA` would.
local function insert_at_end(bufnr)
  local last = api.nvim_buf_line_count(bufnr)
  api.nvim_win_set_cursor(0, { last, #lines(bufnr)[last] })
  vim.cmd('startinsert!')
  wait_for('insert mode', 5000, function()
    return api.nvim_get_mode().mode == 'i'
  end)
end

local function leave_insert()
  vim.cmd('stopinsert')
  wait_for('normal mode', 5000, function()
    return api.nvim_get_mode().mode == 'n'
  end)
end

-- Hover and code actions for each diagnostic, asked the way vim.lsp.buf does.
local function probe_diagnostics(client, bufnr, diags)
  for _, d in ipairs(diags) do
    local range = d.lsp.range
    local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = range.start }
    local hover = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover', params, 20000)
    local h = hover and hover[client.id]
    d.hover = h and h.result and h.result.contents
    local actions = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = range,
      context = { diagnostics = { d.lsp }, only = { 'quickfix' } },
    }, 20000)
    local a = actions and actions[client.id]
    d.actions = a and a.result or {}
  end
end

-- Returns a function that, once the text is accepted, waits for the server's answer to
-- `caveat.accept` and the diagnostics it publishes, then records what Neovim shows.
local function snapshot(name, client, bufnr, before)
  local first_request = #results.requests + 1
  return function(extra)
    local accept = wait_for(name .. ' caveat.accept answer', 30000, function()
      for i = first_request, #results.requests do
        local r = results.requests[i]
        if r.method == 'workspace/executeCommand' and r.params.command == 'caveat.accept' then
          return r.answered and r
        end
      end
    end)
    wait_for(name .. ' diagnostics', 30000, function()
      return publishes_for(bufnr, accept.publishes_before) > 0
    end)
    -- Let publishes that follow the accept in the same burst land.
    sleep(300)
    local section = extra or {}
    section.accept = accept.params
    section.before = before
    section.after = lines(bufnr)
    section.diagnostics = caveat_diagnostics(client, bufnr)
    section.confidence = results.confidence[vim.uri_from_bufnr(bufnr)]
    section.confidence_marks = #api.nvim_buf_get_extmarks(bufnr, decorations.ns, 0, -1, {})
    probe_diagnostics(client, bufnr, section.diagnostics)
    results[name] = section
    return section
  end
end

local ghost_section

local function main()
  local bufnr = api.nvim_get_current_buf()
  local client = wait_for('the caveat client', 60000, function()
    return caveat_client(bufnr)
  end)
  instrument(client)
  wait_for('caveat/status ready', 60000, function()
    local st = require('caveat.client').status[client.id]
    return st and st.state == 'ready'
  end)
  local diag_config = vim.diagnostic.config(nil, vim.lsp.diagnostic.get_namespace(client.id, false))
  results.diagnostic_config = {
    underline = diag_config.underline,
    virtual_text = diag_config.virtual_text,
    signs = diag_config.signs,
  }
  results.mode = require('caveat.completion').mode(bufnr)
  results.offset_encoding = client.offset_encoding
  if vim.env.CAVEAT_E2E_LEGACY == '1' then
    return ghost_section()
  end

  -- 1. Native inline completion: type nothing, wait for the ghost item, press the accept key.
  local before = lines(bufnr)
  insert_at_end(bufnr)
  local inline_ns = api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  wait_for('an inline completion item', 30000, function()
    return inline_ns and #api.nvim_buf_get_extmarks(bufnr, inline_ns, 0, -1, {}) > 0
  end)
  local done = snapshot('native', client, bufnr, before)
  api.nvim_feedkeys(api.nvim_replace_termcodes('<Tab>', true, false, true), 'm', false)
  wait_for('the accepted text', 5000, function()
    return not vim.deep_equal(lines(bufnr), before)
  end)
  leave_insert()
  local section = done({ cursor = api.nvim_win_get_cursor(0) })
  results.status_line = require('caveat').status()

  -- Apply the first alternative offered, as vim.lsp.buf.code_action() would.
  for _, d in ipairs(section.diagnostics) do
    local action = d.actions[1]
    if action then
      local applied = { before = lines(bufnr), action = action }
      local since = #results.publishes
      vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
      applied.after = lines(bufnr)
      -- The edit touches the span: the server drops it and publishes again.
      wait_for('diagnostics after the alternative', 20000, function()
        return publishes_for(bufnr, since) > 0
      end)
      sleep(300)
      applied.diagnostics = caveat_diagnostics(client, bufnr)
      applied.replaced = d.lsp.range
      results.applied = applied
      break
    end
  end

  -- 2. :Caveat clear, then :Caveat scan on the same buffer.
  local cleared = publishes_for(bufnr)
  vim.cmd('Caveat clear')
  wait_for('diagnostics cleared', 20000, function()
    return publishes_for(bufnr) > cleared
  end)
  results.after_clear = #caveat_diagnostics(client, bufnr)
  local scanned = publishes_for(bufnr)
  vim.cmd('Caveat scan')
  wait_for('scan result', 60000, function()
    for _, n in ipairs(results.notifications) do
      if n.msg:match('uncertain span') then
        return true
      end
    end
  end)
  wait_for('scan diagnostics', 20000, function()
    return publishes_for(bufnr) > scanned
  end)
  results.after_scan = #caveat_diagnostics(client, bufnr)

  ghost_section()
end

-- 3. Streamed ghost text (the path for Neovim < 0.12): trigger, accept a word, accept the rest.
function ghost_section()
  require('caveat').options.inline = 'ghost'
  vim.cmd('edit ' .. vim.fn.fnameescape(ghost_file))
  local gbuf = api.nvim_get_current_buf()
  local client = wait_for('the caveat client on the second buffer', 30000, function()
    return caveat_client(gbuf)
  end)
  results.ghost_mode = require('caveat.completion').mode(gbuf)
  local gbefore = lines(gbuf)
  insert_at_end(gbuf)
  assert(require('caveat').trigger(), 'trigger sent no request')
  local state = wait_for('the streamed suggestion', 30000, function()
    local s = ghost.current(gbuf)
    return s and s.done and s
  end)
  local marks = api.nvim_buf_get_extmarks(gbuf, ghost.ns, 0, -1, { details = true })
  local gdone = snapshot('ghost', client, gbuf, gbefore)
  -- accept_word mutates the live state: keep the full suggestion now.
  local streamed = { text = state.text, id = state.id, marks = #marks }
  streamed.first_virt_text = marks[1] and marks[1][4].virt_text
  api.nvim_feedkeys(api.nvim_replace_termcodes('<M-Right>', true, false, true), 'm', false)
  wait_for('the first word', 5000, function()
    return not vim.deep_equal(lines(gbuf), gbefore)
  end)
  streamed.after_word = lines(gbuf)
  streamed.rest = ghost.current(gbuf) and ghost.current(gbuf).text
  api.nvim_feedkeys(api.nvim_replace_termcodes('<Tab>', true, false, true), 'm', false)
  local expected = table.concat(gbefore, '\n') .. streamed.text
  wait_for('the rest of the suggestion', 5000, function()
    return table.concat(lines(gbuf), '\n') == expected
  end)
  leave_insert()
  gdone(streamed)

  -- 4. Settings changed at run time reach the server: the next completion stops at 2 tokens.
  require('caveat').set_settings({ completion = { maxTokens = 2 } })
  sleep(500)
  api.nvim_buf_set_lines(gbuf, -1, -1, true, { '    count = ' })
  local asked = #results.requests
  insert_at_end(gbuf)
  assert(require('caveat').trigger(), 'trigger sent no request')
  local answer = wait_for('the short completion', 30000, function()
    for i = asked + 1, #results.requests do
      local r = results.requests[i]
      if r.method == 'caveat/complete' and r.answered then
        return r
      end
    end
  end)
  results.short = answer.result
  leave_insert()
end

co = coroutine.create(function()
  main()
  vim.fn.writefile({ vim.json.encode(results) }, out_path)
  vim.cmd('qall!')
end)
vim.schedule(function()
  local ok, err = coroutine.resume(co)
  if not ok then
    results.error = debug.traceback(co, err)
    vim.fn.writefile({ vim.json.encode(results) }, out_path)
    vim.cmd('cquit 1')
  end
end)
