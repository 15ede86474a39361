-- Defines :Caveat; the server starts only after require('caveat').setup().
if vim.g.loaded_caveat then
  return
end
vim.g.loaded_caveat = true

vim.api.nvim_create_user_command('Caveat', function(args)
  require('caveat.commands').run(args)
end, {
  nargs = '*',
  complete = function(arglead, cmdline)
    return require('caveat.commands').complete(arglead, cmdline)
  end,
  desc = 'caveat: scan | clear [all] | toggle [buffer|filetype] | trigger | status | alternatives',
})
