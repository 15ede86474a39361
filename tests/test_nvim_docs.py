"""The Neovim client's documentation: `:help caveat` works, and README and help name every option
and key the code has, with the main README's install line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_nvim import ROOT, find_nvim

pytestmark = pytest.mark.nvim

PLUGIN = ROOT / "client-nvim"
HELP = PLUGIN / "doc" / "caveat.txt"
README = PLUGIN / "README.md"


def nvim_lua(code: str, tmp_path: Path) -> str:
    """Run Lua in a clean headless Neovim with the plugin on 'runtimepath'; its stdout."""
    script = tmp_path / "probe.lua"
    script.write_text(code)
    proc = subprocess.run(
        [find_nvim(), "--headless", "--clean", "-l", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_caveat_opens_the_help_file(tmp_path: Path) -> None:
    """:helptags accepts doc/caveat.txt (no duplicate tags) and :help caveat lands on it."""
    plugin = tmp_path / "client-nvim"
    shutil.copytree(PLUGIN, plugin)  # helptags writes doc/tags: keep it out of the checkout
    out = nvim_lua(
        f"vim.opt.runtimepath:prepend({json.dumps(str(plugin))})\n"
        f"vim.cmd('helptags {plugin / 'doc'}')\n"
        "local found = {}\n"
        "for _, tag in ipairs({ 'caveat', 'caveat-keys', 'caveat-health', ':Caveat' }) do\n"
        "  vim.cmd('help ' .. tag)\n"
        "  found[tag] = vim.fn.expand('%:t') .. ':' .. vim.fn.getline('.')\n"
        "end\n"
        "io.stdout:write(vim.json.encode(found))\n",
        tmp_path,
    )
    found = json.loads(out)
    assert found["caveat"].startswith("caveat.txt:") and "*caveat*" in found["caveat"]
    for tag in ("caveat-keys", ":Caveat"):
        assert found[tag].startswith("caveat.txt:") and f"*{tag}*" in found[tag], found


def test_help_links_resolve() -> None:
    """Every |caveat-…| link in the help file has its *tag*."""
    text = HELP.read_text()
    tags = set(re.findall(r"\*([^*\s]+)\*", text))
    links = set(re.findall(r"\|(caveat[^|\s]*)\|", text))
    assert links and links <= tags, links - tags


def test_docs_name_every_option_and_key(tmp_path: Path) -> None:
    """Each option and key of config.lua's defaults is in README.md and doc/caveat.txt."""
    out = nvim_lua(
        f"package.path = {json.dumps(str(PLUGIN / 'lua') + '/?.lua')} .. ';' .. package.path\n"
        "local d = require('caveat.config').defaults\n"
        "local names = {}\n"
        "for k in pairs(d) do names[#names + 1] = k end\n"
        "names[#names + 1] = 'cmd'\n"
        "local keys = {}\n"
        "for k, v in pairs(d.keymaps) do keys[k] = v end\n"
        "io.stdout:write(vim.json.encode({ options = names, keys = keys }))\n",
        tmp_path,
    )
    defaults = json.loads(out)
    readme, help_text = README.read_text(), HELP.read_text()
    for name in defaults["options"]:
        assert re.search(rf"^\s*{name} = ", readme, re.M), f"README lacks option {name}"
        assert f"*caveat-{name}*" in help_text, f"help lacks option {name}"
    for key, lhs in defaults["keys"].items():
        assert re.search(rf"^\s*{key} = '{re.escape(lhs)}'", readme.replace("\\\\", "\\"), re.M), (
            f"README lacks key {key} = {lhs}"
        )
        assert re.search(rf"^\s*{key}\s+`{re.escape(lhs)}`", help_text, re.M), (
            f"help lacks key {key} = {lhs}"
        )


def test_install_line_matches_the_main_readme() -> None:
    """Both READMEs install caveat from a checkout with `pip install .`; no PyPI name."""
    main = (ROOT / "README.md").read_text()
    assert "pip install ." in main
    for text in (README.read_text(), HELP.read_text()):
        assert "pip install ." in text
        assert not re.search(r"pip install caveat\b", text)
