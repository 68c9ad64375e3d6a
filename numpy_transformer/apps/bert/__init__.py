"""The BERT-style encoder: WordPiece, MLM pre-training, [CLS] fine-tuning on the sentence pairs,
fill-mask: `python -m numpy_transformer bert pretrain|finetune` and `fill-mask`."""
