"""The Neovim client against the real server and model, as a user meets it (issue #21): status
names, scan counts, a cancelled scan, K, message prefixes, the server's stderr, the user's own
<Tab>, trigger after dismiss (ghost and native), accept-line and toggles. One headless session
(tests/nvim/client.lua) records; the tests below check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_nvim import GHOST_SOURCE, INIT, NATIVE_SOURCE, find_nvim

pytestmark = pytest.mark.nvim

SCRIPT = Path(__file__).resolve().parent / "nvim" / "client.lua"
HELPERS = Path(__file__).resolve().parent / "nvim" / "lib.lua"

# Scanned with the embedded model this gives spans at three levels: a hint (`def mean(values):`,
# unpublished at the default minLevel), an information and a warning (`spread`, `low`).
SCAN_SOURCE = (Path(__file__).parent / "data" / "stats_sample.py").read_text("utf-8")

# Before init.lua: short completions on one thread (default diagnostics.minLevel), the user's
# own global insert-mode <Tab>, a keywordprg command that records its word, and an INFO log so
# that lsp.log shows which server records arrive and how.
SETUP = (
    "lua vim.g.caveat = { settings = { model = { threads = 1 },"
    " completion = { maxTokens = 24 } } };"
    " vim.keymap.set('i', '<Tab>', function() vim.g.user_tab = (vim.g.user_tab or 0) + 1 end);"
    " vim.api.nvim_create_user_command('CaveatTestK', function(a) vim.g.caveat_test_k = a.args end,"
    " { nargs = '*' });"
    " vim.lsp.log.set_level('INFO')"
)


# The embedded model is unsure how this body starts, so an explicit trigger gets candidates.
CYCLE_SOURCE = "def fibonacci(n):\n    "


def first_line(text: str) -> str:
    """What accept-line inserts: up to and with the first newline; a blank first line takes
    the next line along."""
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not lines[0].strip():
        return lines[0] + lines[1]
    return lines[0] if lines else text


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/nvim/client.lua once; its record plus the LSP log."""
    work = tmp_path_factory.mktemp("nvim-client")
    (work / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    scan_file = work / "stats.py"
    scan_file.write_text(SCAN_SOURCE)
    ghost_file = work / "mean.py"
    ghost_file.write_text(GHOST_SOURCE)
    native_file = work / "points.py"
    native_file.write_text(NATIVE_SOURCE)
    cycle_file = work / "fib.py"
    cycle_file.write_text(CYCLE_SOURCE)
    long_file = work / "long.py"
    long_file.write_text("".join(f"value_{i} = {i}\n" for i in range(300)))
    out = work / "result.json"
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(work / var.lower())
    env.update(
        CAVEAT_PYTHON=sys.executable,
        CAVEAT_E2E_OUT=str(out),
        CAVEAT_E2E_GHOST_FILE=str(ghost_file),
        CAVEAT_E2E_NATIVE_FILE=str(native_file),
        CAVEAT_E2E_CYCLE_FILE=str(cycle_file),
        CAVEAT_E2E_LONG_FILE=str(long_file),
    )
    cmd = [find_nvim(), "--headless", "-n", "-i", "NONE", "--cmd", SETUP, "-u", str(INIT)]
    cmd += ["-c", f"luafile {SCRIPT}", str(scan_file)]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=240)
    log_path = work / "xdg_state_home" / "nvim" / "lsp.log"
    log = log_path.read_text() if log_path.exists() else ""
    detail = f"stderr:\n{proc.stderr[-3000:]}\nlsp.log:\n{log[-5000:]}"
    assert out.exists(), f"Neovim wrote no result (rc={proc.returncode})\n{detail}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, f"{result['error']}\n{detail}"
    assert proc.returncode == 0, detail
    result["lsp_log"] = log
    return result


def test_server_log_is_not_reported_as_errors(session: dict[str, Any]) -> None:
    """Server INFO records reach :LspLog at INFO (window/logMessage), never as stderr [ERROR]."""
    log = session["lsp_log"].splitlines()
    assert [line for line in log if line.startswith("[INFO]") and "caveat." in line], (
        "no INFO record of the server arrived: the check below would prove nothing"
    )
    stderr = [line for line in log if '"stderr"' in line]
    assert not stderr, stderr[:5]


def test_status_names_one_model(session: dict[str, Any]) -> None:
    """The status line names the model the same way from loading to ready."""
    states = [s["state"] for s in session["statuses"]]
    assert "loading" in states and "ready" in states, states
    named = {re.search(r"model (.*?)(, |$)", s["line"]) for s in session["statuses"]}
    names = {m[1] for m in named if m}
    assert len(names) == 1, [s["line"] for s in session["statuses"]]


def test_default_front_end_is_confidence_coloured_ghost_text(session: dict[str, Any]) -> None:
    """On 0.12 'auto' still picks the ghost text that colours tokens by confidence."""
    assert session["mode"] == "ghost" and session["ghost_mode"] == "ghost"


def test_scan_message_counts_what_is_shown(session: dict[str, Any]) -> None:
    """'N uncertain spans' is the number of diagnostics shown; the unpublished ones are named."""
    scan = session["scan"]
    shown = len(scan["diagnostics"])
    assert shown > 0
    assert scan["msg"].startswith(f"caveat: {shown} uncertain span"), scan
    found = scan["result"]["spans"]
    # The hint span is below the default minLevel: found > shown, and the message says so.
    assert found > shown, scan
    assert f"the scan found {found}" in scan["msg"], scan


def test_cancelled_scan_says_so_and_keeps_diagnostics(session: dict[str, Any]) -> None:
    """An edit during :Caveat scan cancels it: 'scan cancelled', diagnostics unchanged."""
    cancel = session["cancel"]
    assert cancel["result"] == {"spans": 0, "cancelled": True}, cancel
    assert "scan cancelled" in cancel["msg"] and "uncertain span" not in cancel["msg"]
    assert cancel["before"] and cancel["after"] == cancel["before"]


def test_k_falls_through_where_nothing_is_flagged(session: dict[str, Any]) -> None:
    """K shows caveat's hover on a flagged span; elsewhere it runs keywordprg, not 'No info'."""
    assert session["k_desc"].startswith("caveat:")
    assert session["k_plain"] == "count"
    assert session.get("k_plain_float") is None
    assert not [n for n in session["notifications"] if "No information available" in n["msg"]]
    # The float is caveat's hover for the flagged text: it names the text and a probability.
    flagged = session["scan"]["diagnostics"][0]
    word = SCAN_SOURCE.splitlines()[flagged["lnum"]][flagged["col"] : flagged["end_col"]]
    hover = session["k_flagged"]
    assert "caveat" in hover and word in hover, (word, hover)
    assert re.search(r"(<0\.1|\d+(\.\d)?)%", hover), hover
    assert session.get("k_flagged_keywordprg") is None


def test_server_messages_have_one_prefix(session: dict[str, Any]) -> None:
    """Invalid runtime settings: 'LSP[caveat] invalid settings …', not 'caveat: caveat:'."""
    message = session["invalid_settings"]
    assert message.startswith("LSP[caveat] invalid settings"), message
    doubled = [n["msg"] for n in session["notifications"] if "caveat: caveat" in n["msg"]]
    assert not doubled and "] caveat:" not in message


def test_user_tab_mapping_is_kept(session: dict[str, Any]) -> None:
    """Without a suggestion <Tab> runs the user's own mapping; with one it accepts."""
    before = session["accept_line"]["before"]
    assert session["tab_without_suggestion"] == {"lines": before, "user_tab": 1}
    text = session["again"]["text"]
    assert "\n".join(session["after_tab"]["lines"]) == "\n".join(before) + text
    assert session["after_tab"]["user_tab"] == 1


def test_trigger_after_dismiss_and_accept_line(session: dict[str, Any]) -> None:
    """<C-]> hides the suggestion, <M-\\> asks again; <M-C-Right> inserts one line of it."""
    assert session["first_text"]
    assert session["marks_after_dismiss"] == 0
    again = session["again"]
    assert again["text"] == session["first_text"] and again["marks"] >= 1
    text = again["text"]
    expected = first_line(text)
    accepted = session["accept_line"]
    joined_before = "\n".join(accepted["before"])
    assert "\n".join(accepted["after"]) == joined_before + expected
    assert (accepted["rest"] or "") == text[len(expected) :]


def test_toggle_per_buffer_and_filetype(session: dict[str, Any]) -> None:
    """:Caveat toggle buffer / filetype turn completions off there only, and back on."""
    toggle = session["toggle"]
    assert toggle["buffer_off"] is False
    assert "completion off" in toggle["status"]
    assert toggle["buffer_on"] is True
    assert toggle["filetype_off"] is False and toggle["other_buffer_off"] is False
    assert toggle["filetype_on"] is True
    assert toggle["messages"] == [
        "caveat: completions off in this buffer",
        "caveat: completions on in this buffer",
        "caveat: completions off for python",
        "caveat: completions on for python",
    ]


def test_native_trigger_after_dismiss(session: dict[str, Any]) -> None:
    """Native mode: <C-]> hides the item for good; <M-\\> requests with triggerKind Invoked."""
    assert session["native_mode"] == "native"
    native = session["native"]
    assert native["hidden_after_wait"] is True
    assert 1 in native["trigger_kinds"], native
    # One candidate: <M-]> cycles to the same item, which stays shown.
    assert native["shown_after_next"] is True


def test_ghost_text_cycles_candidates(session: dict[str, Any]) -> None:
    """<M-\\> asks for several; <M-]> shows the next, <M-[> goes back; <Tab> accepts it."""
    cycle = session["cycle"]
    texts = cycle["texts"]
    assert len(texts) >= 2 and len(set(texts)) == len(texts), cycle
    assert cycle["first"] == texts[0]
    assert cycle["next"] == texts[1] and cycle["back"] == texts[0]
    assert "\n".join(cycle["accepted"]) == CYCLE_SOURCE + texts[1]


def test_visible_lines_are_sent(session: dict[str, Any]) -> None:
    """Scrolling to line 150 sends caveat/didView with the lines now on screen."""
    view = session["view"]
    assert view["start"]["line"] <= 149 <= view["end"]["line"], view
