"""The translation application around the models: data loading and cleaning, the embedded
corpus, the tokenizer, the training loop, decoding (greedy, beam), checkpoints, plots, the
command line. The maths (ops/, models/) never imports this package."""
