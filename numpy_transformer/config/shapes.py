"""Every parameter's name and shape for a config: the one naming scheme that all backends,
checkpoints and tests share, and the strict check of a state dict against it."""
from __future__ import annotations

from .bert import BertConfig, bert_parameter_shapes
from .models import ViTConfig
from .rnn import RNNConfig, rnn_parameter_shapes
from .rnn_translator import RNNTranslatorConfig, rnn_translator_parameter_shapes


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


def vit_parameter_shapes(cfg: ViTConfig) -> dict:
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


def parameter_shapes(cfg) -> dict:
    """Every parameter's name and shape, in a fixed order: the one naming scheme that all
    backends, checkpoints and tests share. Weights are stored (in, out): y = x @ W + b.
    A ViTConfig gives the Vision Transformer's (vit_parameter_shapes), an RNNTranslatorConfig
    the attentional RNN translator's (rnn_translator_parameter_shapes), a BertConfig the BERT
    encoder's (bert_parameter_shapes)."""
    if isinstance(cfg, ViTConfig):
        return vit_parameter_shapes(cfg)
    if isinstance(cfg, RNNTranslatorConfig):
        return rnn_translator_parameter_shapes(cfg)
    if isinstance(cfg, BertConfig):
        return bert_parameter_shapes(cfg)
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


def check_state_dict(state: dict, cfg) -> None:
    """Strict check of a state dict against `cfg`: raises ValueError naming every missing,
    unexpected or mis-shaped key, and any tensor holding NaN/inf."""
    import numpy as np  # local: config stays importable as pure metadata

    expected = rnn_parameter_shapes(cfg) if isinstance(cfg, RNNConfig) else parameter_shapes(cfg)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if extra:
        problems.append(f"unexpected keys: {extra}")
    for k, shape in expected.items():
        if k in state and tuple(np.shape(state[k])) != shape:
            problems.append(f"{k}: expected shape {shape}, got {tuple(np.shape(state[k]))}")
    if problems:
        raise ValueError("state dict does not match the config: " + "; ".join(problems))
    for k in expected:
        a = np.asarray(state[k])
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"{k}: expected a floating-point array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{k}: contains NaN or inf")
