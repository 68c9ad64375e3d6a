"""One folder per application, each holding only what is specific to it: translation
(English→German, the book's main model), vit (a Vision Transformer on digits), bert (MLM
pre-training and fine-tuning) and rnn (the book's road to attention). Each has a `commands.py`
whose `register(subs)` adds its subcommands to the command line (cli/main.py)."""
