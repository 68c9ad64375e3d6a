"""Parameter names and shapes of the Transformer and the ViT, and the building blocks (attention,
norm, feed-forward, encoder layers) the BERT encoder's shapes reuse: the one naming scheme that
all backends, checkpoints and tests share. Weights are stored (in, out): y = x @ W + b."""
from __future__ import annotations


def _attn(shapes, prefix, d):
    for w in ("wq", "wk", "wv", "wo"):
        shapes[f"{prefix}.{w}.weight"] = (d, d)
        shapes[f"{prefix}.{w}.bias"] = (d,)


def _norm(shapes, prefix, d):
    shapes[f"{prefix}.gamma"] = shapes[f"{prefix}.beta"] = (d,)


def _ffn(shapes, prefix, d, f):
    shapes.update({f"{prefix}.linear1.weight": (d, f), f"{prefix}.linear1.bias": (f,),
                   f"{prefix}.linear2.weight": (f, d), f"{prefix}.linear2.bias": (d,)})


def _encoder_layers(shapes, cfg):
    d, f = cfg.d_model, cfg.d_ff
    for i in range(cfg.num_layers):
        p = f"encoder.layers.{i}"
        _attn(shapes, f"{p}.self_attn", d); _norm(shapes, f"{p}.norm1", d)
        _ffn(shapes, f"{p}.ffn", d, f); _norm(shapes, f"{p}.norm2", d)
    if cfg.norm_first:
        _norm(shapes, "encoder.final_norm", d)


def vit_parameter_shapes(cfg) -> dict:
    """The ViT's parameters: patch embedding (patch_dim, d) + bias, class token (d,), position
    embedding (N + 1, d), encoder layers under the translation encoder's names, the final norm
    (pre-LN), the head (d, num_classes) + bias."""
    d = cfg.d_model
    shapes = {"patch_embed.weight": (cfg.patch_dim, d), "patch_embed.bias": (d,),
              "class_token": (d,), "pos_embed": (cfg.seq_len, d)}
    _encoder_layers(shapes, cfg)
    shapes["head.weight"] = (d, cfg.num_classes)
    shapes["head.bias"] = (cfg.num_classes,)
    return shapes


def transformer_parameter_shapes(cfg) -> dict:
    """The encoder-decoder Transformer's parameters, in a fixed order: the embeddings, encoder
    and decoder layers (and the final norms in pre-LN), the output layer."""
    d, f = cfg.d_model, cfg.d_ff
    shapes = {"encoder.embedding.weight": (cfg.src_vocab_size, d)}
    _encoder_layers(shapes, cfg)
    shapes["decoder.embedding.weight"] = (cfg.tgt_vocab_size, d)
    for i in range(cfg.num_layers):
        p = f"decoder.layers.{i}"
        _attn(shapes, f"{p}.self_attn", d); _norm(shapes, f"{p}.norm1", d)
        _attn(shapes, f"{p}.cross_attn", d); _norm(shapes, f"{p}.norm2", d)
        _ffn(shapes, f"{p}.ffn", d, f); _norm(shapes, f"{p}.norm3", d)
    if cfg.norm_first:
        _norm(shapes, "decoder.final_norm", d)
    shapes["output.weight"] = (d, cfg.tgt_vocab_size)
    shapes["output.bias"] = (cfg.tgt_vocab_size,)
    return shapes
