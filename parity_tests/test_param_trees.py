"""The models' parameters as trees shaped like the model (config/tree.py), held to what the flat
{name: array} code before them computed, bit for bit (fixtures/pre_tree/, written by
fixtures/make_pre_tree.py at commit 3577ed5): the same initial weights from a seed, checkpoints
it wrote load unchanged, and training from them goes on to the same bits. Also: the gradient
tree has the parameter tree's shape and order, Adam keeps its state under the dotted names, a
flat-dict model still works, and Transformer.forward reaches every matmul in at most 4 calls."""
import sys
from pathlib import Path

import numpy as np
import pytest

from numpy_transformer import Adam, BertEncoder, Transformer, VisionTransformer, parameter_shapes
from numpy_transformer.config.tree import Tree, flatten
from numpy_transformer.fast import ThreadedAdam
from numpy_transformer.models.kernels import get_kernels
from numpy_transformer.training.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from make_pre_tree import CASES, batch, optimizer, train_step  # noqa: E402

HERE = Path(__file__).parent / "fixtures" / "pre_tree"


def assert_same_bits(got, want):
    assert list(got) == list(want)                   # the same names, in the same order
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert got[k].tobytes() == want[k].tobytes(), f"{k} differs"


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_seed_gives_the_flat_codes_initial_weights(name):
    model = CASES[name][0]()
    assert isinstance(model.params, Tree)
    assert list(flatten(model.params)) == list(parameter_shapes(model.cfg))
    assert_same_bits(model.state_dict(), dict(np.load(HERE / name / "init.npz")))


@pytest.mark.parametrize("name", list(CASES))
def test_a_checkpoint_of_the_flat_code_loads_and_training_goes_on_bit_for_bit(name):
    """Its weights and Adam moments (under the dotted names) resume: the third step gives the
    flat code's third step exactly (dropout, clipping and the threaded Adam included)."""
    make, adam = CASES[name]
    ck = load_checkpoint(HERE / name)
    model, opt = make(), optimizer(adam)
    model.load_state_dict(ck["weights"])
    opt.load_state_dict(ck["optimizer"])
    assert isinstance(model.params, Tree) and opt.t == 2
    train_step(model, opt, batch(model), 3)
    assert_same_bits(model.state_dict(), dict(np.load(HERE / name / "step3.npz")))
    # the moments stay under the dotted names (in the file's order: safetensors sorts its keys)
    assert sorted(opt.state_dict()) == sorted(["t"] + [f"{s}.{k}" for s in "mv" for k in parameter_shapes(model.cfg)])


@pytest.mark.parametrize("name", list(CASES))
def test_backward_returns_a_tree_of_the_parameters_shape_and_order(name):
    model = CASES[name][0]()
    y = batch(model)(1)
    grads = model.backward(np.ones_like(y))
    flat_g, flat_p = flatten(grads), flatten(model.params)
    assert list(flat_g) == list(flat_p)
    assert all(flat_g[k].shape == flat_p[k].shape and flat_g[k].dtype == flat_p[k].dtype for k in flat_p)
    assert isinstance(grads.encoder.layers, list) and len(grads.encoder.layers) == model.cfg.num_layers


def test_the_tree_is_the_state_dict_by_attribute():
    model = CASES["transformer-preln-f32-fast"][0]()
    p, sd = model.params, model.state_dict()
    np.testing.assert_array_equal(p.encoder.layers[1].self_attn.wq.weight, sd["encoder.layers.1.self_attn.wq.weight"])
    assert p.decoder.final_norm.gamma.shape == sd["decoder.final_norm.gamma"].shape
    sd["output.bias"][0] += 1.0
    assert p.output.bias[0] != sd["output.bias"][0]          # state_dict() copies
    assert model.num_parameters() == sum(v.size for v in sd.values())


@pytest.mark.parametrize("adam", [Adam, ThreadedAdam])
def test_adam_on_trees_equals_adam_on_the_flat_names(adam):
    """The same update whether it is handed the trees or the flat dicts of the same arrays, and
    its state under the dotted names either way."""
    make = CASES["transformer-postln-f64-plain"][0]
    tree_model, flat_model = make(), make()
    flat_params = flatten(flat_model.params)               # the model's own arrays, by name
    opt_tree, opt_flat = optimizer(adam), optimizer(adam)
    run_t, run_f = batch(tree_model), batch(flat_model)
    for step in (1, 2):
        opt_tree.step(tree_model.params, tree_model.backward(np.cos(run_t(step)) * 0.1))
        opt_flat.step(flat_params, flatten(flat_model.backward(np.cos(run_f(step)) * 0.1)))
    assert_same_bits(tree_model.state_dict(), flat_model.state_dict())
    assert_same_bits(opt_tree.state_dict(), opt_flat.state_dict())


def test_adam_refuses_a_gradient_tree_of_another_shape():
    model = CASES["vit-preln-f32-fast"][0]()
    grads = model.backward(np.ones_like(batch(model)(1)))
    del grads.encoder.layers[1].ffn
    with pytest.raises(ValueError, match="different keys.*encoder.layers.1.ffn"):
        Adam(1e-3).step(model.params, grads)


def test_a_model_with_flat_params_keeps_them_flat():
    """ParameterModel (models/params.py) still serves a model whose params are {name: array}."""
    from numpy_transformer.config import RNNTranslatorConfig
    from numpy_transformer.models import RNNTranslator
    m = RNNTranslator(RNNTranslatorConfig(src_vocab_size=7, tgt_vocab_size=6, embed_dim=4, hidden=4, max_len=6))
    m.params = flatten(m.params)     # every model builds a tree now; the flat form is made by hand
    sd = m.state_dict()
    m.load_state_dict({k: v + 1 for k, v in sd.items()})
    assert type(m.params) is dict and list(m.params) == list(sd)
    assert all(np.array_equal(m.params[k], sd[k] + 1) for k in sd)


def _deepest_matmul(monkeypatch, root, run):
    """The most calls from `root` (a function's code object) down to any np.matmul while run()
    runs: np.matmul is wrapped, and each call walks its Python frames up to root's."""
    depths, real = [], np.matmul

    def matmul(*a, **k):
        f, n = sys._getframe(1), 1
        while f is not None and f.f_code is not root:
            f, n = f.f_back, n + 1
        if f is not None:
            depths.append(n)
        return real(*a, **k)
    monkeypatch.setattr(np, "matmul", matmul)
    run()
    monkeypatch.setattr(np, "matmul", real)
    assert depths, "no np.matmul was reached from the forward: the count would prove nothing"
    return max(depths)


@pytest.mark.parametrize("kernels", ["plain", "fast"])
@pytest.mark.parametrize("name", list(CASES))
def test_forward_reaches_every_matmul_in_at_most_four_calls(monkeypatch, name, kernels):
    """Transformer.forward → encoder_layer_forward → mha_forward → linear_forward → np.matmul
    (docs/architecture.md); the ViT's and BERT's forward likewise; training mode (dropout on)."""
    model = CASES[name][0]()
    model.kernels = get_kernels(kernels)
    run = batch(model)
    root = type(model).forward.__code__
    assert _deepest_matmul(monkeypatch, root, lambda: run(1)) <= 4
