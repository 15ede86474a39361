-- A minimal Neovim configuration for caveat (also what the Neovim end-to-end test runs):
--   CAVEAT_PYTHON=/path/to/venv/bin/python nvim -u client-nvim/init.lua example.py
-- In your own config, add this folder to 'runtimepath' (or use the lazy.nvim spec in README.md)
-- and call setup().
local source = debug.getinfo(1, 'S').source:sub(2)
vim.opt.runtimepath:prepend(vim.fn.fnamemodify(source, ':p:h'))

require('caveat').setup({
  -- The Python environment where caveat is installed.
  python = vim.env.CAVEAT_PYTHON or 'python3',
})
