"""The parameter tree and its one flatten/unflatten pair (config/tree.py)."""
import numpy as np
import pytest

from numpy_transformer.config.tree import Tree, flatten, named, tree_map, unflatten


def test_unflatten_makes_lists_of_layers_and_attribute_access():
    flat = {"encoder.embedding.weight": np.zeros((3, 2)),
            "encoder.layers.0.self_attn.wq.weight": np.ones((2, 2)),
            "encoder.layers.1.self_attn.wq.weight": np.full((2, 2), 2.0),
            "output.bias": np.arange(3.0)}
    p = unflatten(flat)
    assert isinstance(p.encoder.layers, list) and len(p.encoder.layers) == 2
    assert p.encoder.layers[1].self_attn.wq.weight is flat["encoder.layers.1.self_attn.wq.weight"]
    assert p["output"]["bias"] is flat["output.bias"]
    back = flatten(p)
    assert list(back) == list(flat) and all(back[k] is flat[k] for k in flat)   # order and identity kept


def test_flatten_views_share_memory_so_in_place_updates_reach_the_tree():
    p = unflatten({"a.weight": np.zeros(3), "b.0.gamma": np.ones(2)})
    flat = flatten(p)
    flat["a.weight"] += 1.0
    flat["b.0.gamma"] *= 3.0
    assert p.a.weight.tolist() == [1.0, 1.0, 1.0] and p.b[0].gamma.tolist() == [3.0, 3.0]


def test_tree_map_keeps_the_shape():
    p = unflatten({"x.0.w": np.ones(2), "x.1.w": np.ones(3), "y": np.ones(1)})
    z = tree_map(np.zeros_like, p)
    assert list(flatten(z)) == list(flatten(p))
    assert isinstance(z.x, list) and isinstance(z, Tree) and z.x[1].w.shape == (3,) and not z.y.any()


@pytest.mark.parametrize("flat, match", [
    ({"a.b": 1, "a.b.c": 2}, "also a prefix"),
    ({"a.b.c": 1, "a.b": 2}, "also a prefix"),
    ({"layers.0.w": 1, "layers.2.w": 2}, "without gaps"),
    ({"layers.00.w": 1}, "leading zeros"),
    ({"a..b": 1}, "empty part"),
])
def test_unflatten_refuses_ambiguous_names(flat, match):
    with pytest.raises(ValueError, match=match):
        unflatten(flat)


def test_missing_attribute_names_what_is_there():
    p = Tree(wq=1, wk=2)
    with pytest.raises(AttributeError, match="no parameter 'wv' here.*wq, wk"):
        p.wv
    assert not hasattr(p, "wv")


def test_flatten_refuses_dotted_keys():
    with pytest.raises(ValueError, match="hold no '.'"):
        flatten({"a.b": 1})


def test_named_flattens_a_tree_and_passes_a_flat_dict_through():
    flat = {"decoder.gru.bias": np.zeros(2), "output.weight": np.ones(3)}
    assert named(flat) is flat                     # a flat dict's dotted names are kept as they are
    tree = unflatten(dict(flat))
    got = named(tree)
    assert list(got) == list(flat) and all(got[k] is flat[k] for k in flat)


def test_tree_map_keeps_a_flat_dict_a_plain_dict():
    flat = {"rnn.W_x": np.ones(2), "dense.bias": np.ones(1)}
    z = tree_map(np.zeros_like, flat)
    assert type(z) is dict and list(z) == list(flat) and not z["rnn.W_x"].any()
