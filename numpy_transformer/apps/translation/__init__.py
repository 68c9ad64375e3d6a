"""English→German translation (the book's main model): the Transformer or the attentional RNN
translator, trained with either backend; `train`, `translate`, `evaluate` and `demo`."""
