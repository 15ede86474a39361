-- Scenario for tests/test_nvim_client.py, run in a headless Neovim started with
-- client-nvim/init.lua on $CAVEAT_E2E_SCAN_FILE: status names, :Caveat scan counts, a cancelled
-- scan, K, doubled prefixes, the user's <Tab>, trigger after dismiss, accept-line, toggles and
-- native mode's trigger. Records what Neovim showed; the Python test makes the assertions.
local api = vim.api
local here = vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2))
local lib = dofile(here .. '/lib.lua')
local results = lib.results
local client_mod = require('caveat.client')
local completion = require('caveat.completion')
local ghost = require('caveat.ghost')

-- Every caveat/status the client stores, with the status line it makes of it at that moment.
results.statuses = {}
local stored = {}
client_mod.status = setmetatable({}, {
  __index = stored,
  __newindex = function(_, id, params)
    stored[id] = params
    if params then
      table.insert(results.statuses, {
        state = params.state,
        model = params.model,
        line = require('caveat.commands').status_line(),
      })
    end
  end,
})

local function diag_list(client, bufnr)
  local list = {}
  for _, d in ipairs(lib.caveat_diagnostics(client, bufnr)) do
    list[#list + 1] = { lnum = d.lnum, col = d.col, end_col = d.end_col, severity = d.severity }
  end
  return list
end

local function float_text()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= '' then
      return table.concat(api.nvim_buf_get_lines(api.nvim_win_get_buf(win), 0, -1, false), '\n')
    end
  end
end

local function close_floats()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= '' then
      api.nvim_win_close(win, true)
    end
  end
end

local function scan_and_wait(bufnr, what)
  local since = #results.notifications
  local asked = #results.requests
  vim.cmd('Caveat scan')
  local msg = lib.wait_for(what, 60000, function()
    return lib.notified_since(since, 'scan cancelled')[1]
      or lib.notified_since(since, 'uncertain span')[1]
  end)
  local request = lib.requests_since(asked, 'workspace/executeCommand')[1]
  return msg, request and request.result
end

local function main()
  local bufnr = api.nvim_get_current_buf()
  local client = lib.wait_for('the caveat client', 60000, function()
    return lib.caveat_client(bufnr)
  end)
  lib.instrument(client)
  lib.wait_for('caveat/status ready', 90000, function()
    local st = client_mod.status[client.id]
    return st and st.state == 'ready'
  end)
  results.mode = completion.mode(bufnr)

  -- 1. :Caveat scan: the message counts the diagnostics shown (default minLevel information).
  local msg, result = scan_and_wait(bufnr, 'the scan')
  results.scan = { msg = msg, result = result, diagnostics = diag_list(client, bufnr) }

  -- 2. K: caveat's hover on a flagged span, keywordprg elsewhere.
  vim.bo[bufnr].keywordprg = ':CaveatTestK'
  local k_map = vim.fn.maparg('K', 'n', false, true)
  results.k_desc = k_map.desc
  api.nvim_win_set_cursor(0, { 4, 5 }) -- "count" in `count = len(values)`
  lib.keys('K')
  results.k_plain = lib.wait_for('keywordprg after K', 20000, function()
    return vim.g.caveat_test_k
  end)
  results.k_plain_float = float_text()
  local flagged = results.scan.diagnostics[1]
  if flagged then
    api.nvim_win_set_cursor(0, { flagged.lnum + 1, flagged.col })
    vim.g.caveat_test_k = nil
    lib.keys('K')
    results.k_flagged = lib.wait_for('the hover window', 30000, float_text)
    results.k_flagged_keywordprg = vim.g.caveat_test_k
    close_floats()
  end

  -- 3. A scan cancelled by an edit keeps the diagnostics and says so.
  local before = diag_list(client, bufnr)
  local since = #results.notifications
  local asked = #results.requests
  vim.cmd('Caveat scan')
  api.nvim_buf_set_lines(bufnr, -1, -1, true, { '# edited during the scan' })
  -- Any request sends the pending didChange first, so the server sees the edit mid-scan.
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  client_mod.request(client, 'textDocument/hover', params, function() end, bufnr)
  results.cancel = {
    msg = lib.wait_for('the cancelled scan', 60000, function()
      return lib.notified_since(since, 'scan')[1]
    end),
    before = before,
  }
  lib.sleep(800)
  results.cancel.after = diag_list(client, bufnr)
  local scan_request = lib.requests_since(asked, 'workspace/executeCommand')[1]
  results.cancel.result = scan_request and scan_request.result

  -- 4. Invalid settings at run time: the server's message, shown once with one prefix.
  since = #results.notifications
  require('caveat').set_settings({ completion = { maxTokens = 'many' } })
  results.invalid_settings = lib.wait_for('the invalid settings message', 20000, function()
    return lib.notified_since(since, 'invalid settings')[1]
  end)
  require('caveat').set_settings({ completion = { maxTokens = 24 } })

  -- 5. Ghost text (the default): the user's own <Tab>, trigger after dismiss, accept-line.
  require('caveat').options.auto_trigger = false
  local gbuf = lib.open(vim.env.CAVEAT_E2E_GHOST_FILE)
  results.ghost_mode = completion.mode(gbuf)
  local gbefore = lib.lines(gbuf)
  lib.insert_at_end(gbuf)
  lib.keys('<Tab>')
  lib.wait_for("the user's <Tab> mapping", 5000, function()
    return vim.g.user_tab == 1
  end)
  results.tab_without_suggestion = { lines = lib.lines(gbuf), user_tab = vim.g.user_tab }
  lib.keys('<M-\\>')
  local first = lib.wait_for('the triggered suggestion', 30000, function()
    local s = ghost.current(gbuf)
    return s and s.done and s
  end)
  results.first_text = first.text
  lib.keys('<C-]>')
  lib.wait_for('the dismissed suggestion', 5000, function()
    return ghost.current(gbuf) == nil
  end)
  results.marks_after_dismiss = #api.nvim_buf_get_extmarks(gbuf, ghost.ns, 0, -1, {})
  lib.keys('<M-\\>')
  local again = lib.wait_for('the suggestion asked for again', 30000, function()
    local s = ghost.current(gbuf)
    return s and s.done and s
  end)
  local text = again.text
  results.again = { text = text, marks = #api.nvim_buf_get_extmarks(gbuf, ghost.ns, 0, -1, {}) }
  lib.keys('<M-C-Right>')
  lib.wait_for('the accepted line', 5000, function()
    return not vim.deep_equal(lib.lines(gbuf), gbefore)
  end)
  lib.sleep(100)
  results.accept_line = {
    before = gbefore,
    after = lib.lines(gbuf),
    rest = ghost.current(gbuf) and ghost.current(gbuf).text,
  }
  if ghost.current(gbuf) then
    lib.keys('<Tab>')
    lib.wait_for('the rest of the suggestion', 5000, function()
      return ghost.current(gbuf) == nil
    end)
  end
  results.after_tab = { lines = lib.lines(gbuf), user_tab = vim.g.user_tab }

  -- 5b. Candidates: an explicit trigger asks for several; <M-]> and <M-[> cycle through them.
  local cbuf = lib.open(vim.env.CAVEAT_E2E_CYCLE_FILE)
  lib.insert_at_end(cbuf)
  lib.keys('<M-\\>')
  local shown = lib.wait_for('the candidates', 30000, function()
    local s = ghost.current(cbuf)
    return s and s.done and s
  end)
  results.cycle = {
    texts = vim.tbl_map(function(c)
      return c.text
    end, shown.candidates or {}),
    first = shown.text,
  }
  lib.keys('<M-]>')
  lib.sleep(100)
  results.cycle.next = ghost.current(cbuf) and ghost.current(cbuf).text
  lib.keys('<M-[>')
  lib.sleep(100)
  results.cycle.back = ghost.current(cbuf) and ghost.current(cbuf).text
  lib.keys('<M-]>')
  lib.sleep(100)
  local before = lib.lines(cbuf)
  lib.keys('<Tab>')
  lib.wait_for('the second candidate accepted', 5000, function()
    return not vim.deep_equal(lib.lines(cbuf), before)
  end)
  results.cycle.accepted = lib.lines(cbuf)
  lib.leave_insert()
  api.nvim_set_current_buf(gbuf)

  -- 5c. The lines on screen reach the server (caveat/didView) once scrolling settles.
  local lbuf = lib.open(vim.env.CAVEAT_E2E_LONG_FILE)
  vim.cmd('normal! 150Gzt')
  local long_uri = vim.uri_from_bufnr(lbuf)
  local view = lib.wait_for('a caveat/didView for the long file', 5000, function()
    for i = #results.sent, 1, -1 do
      local n = results.sent[i]
      if n.method == 'caveat/didView' and n.params.textDocument.uri == long_uri then
        return n.params
      end
    end
  end)
  results.view = view.ranges[1]
  api.nvim_set_current_buf(gbuf)

  -- 6. Toggles: this buffer, then its filetype.
  since = #results.notifications
  vim.cmd('Caveat toggle buffer')
  results.toggle = { buffer_off = require('caveat').trigger(), status = require('caveat').status() }
  vim.cmd('Caveat toggle buffer')
  results.toggle.buffer_on = require('caveat').trigger() and true or false
  ghost.dismiss(gbuf)
  vim.cmd('Caveat toggle filetype')
  results.toggle.filetype_off = require('caveat').trigger()
  results.toggle.other_buffer_off = completion.is_enabled(bufnr)
  vim.cmd('Caveat toggle filetype')
  results.toggle.filetype_on = completion.is_enabled(bufnr) and completion.is_enabled(gbuf)
  results.toggle.messages = lib.notified_since(since, 'completions')
  lib.leave_insert()

  -- 7. Native mode: dismiss, then the trigger key asks again (triggerKind Invoked).
  require('caveat').options.inline = 'native'
  local nbuf = lib.open(vim.env.CAVEAT_E2E_NATIVE_FILE)
  results.native_mode = completion.mode(nbuf)
  local ns = api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  local function shown()
    ns = ns or api.nvim_get_namespaces()['nvim.lsp.inline_completion']
    return ns and #api.nvim_buf_get_extmarks(nbuf, ns, 0, -1, {}) > 0
  end
  lib.insert_at_end(nbuf)
  lib.wait_for('the native item', 30000, shown)
  lib.keys('<C-]>')
  lib.wait_for('the native item dismissed', 5000, function()
    return not shown()
  end)
  asked = #results.requests
  lib.sleep(600)
  results.native = { hidden_after_wait = not shown() }
  lib.keys('<M-\\>')
  lib.wait_for('the native item asked for again', 30000, shown)
  local requests = lib.requests_since(asked, 'textDocument/inlineCompletion')
  results.native.trigger_kinds = vim.tbl_map(function(r)
    return r.params.context.triggerKind
  end, requests)
  lib.keys('<M-]>')
  lib.sleep(200)
  results.native.shown_after_next = shown()
  lib.leave_insert()
end

lib.run(main)
