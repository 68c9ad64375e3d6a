"""Parameter trees: a model's parameters shaped like the model, and the one flatten/unflatten
pair that turns them into the shared dotted names (`encoder.layers.0.self_attn.wq.weight`) and
back. The dotted names are what checkpoints, the Keras twin's state_dict(), Adam's state and the
parity tests read; everything else walks the tree:

    p.encoder.layers[0].self_attn.wq.weight   is   flatten(p)["encoder.layers.0.self_attn.wq.weight"]

A tree is a `Tree` (a dict whose keys also read as attributes) of Trees, lists (the layers,
indexed 0..N-1) and arrays. flatten returns the arrays themselves, not copies, so an in-place
update through the flat view (Adam's) updates the tree. Pure Python: no NumPy needed here.
"""
from __future__ import annotations


class Tree(dict):
    """A dict whose keys read as attributes: `p.self_attn.wq.weight` is
    `p["self_attn"]["wq"]["weight"]`. Nothing else: no registration, no hooks."""
    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r} here (has: {', '.join(self) or 'nothing'})") from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def flatten(tree, prefix=""):
    """{dotted name: leaf}, dict keys and list indices joined by '.', in the tree's order
    (insertion order of each dict, index order of each list). The leaves are not copied."""
    flat = {}
    _flatten(tree, prefix, flat)
    return flat


def _flatten(node, prefix, flat):
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        if not prefix:
            raise TypeError("flatten needs a tree of dicts and lists, got a bare leaf")
        flat[prefix] = node
        return
    for key, value in items:
        key = str(key)
        if not key or "." in key:
            raise ValueError(f"a parameter tree's key must be non-empty and hold no '.': {key!r} under {prefix!r}")
        _flatten(value, f"{prefix}.{key}" if prefix else key, flat)


def unflatten(flat):
    """The tree of a {dotted name: leaf} dict: every name split at '.', a run of sibling keys
    that are exactly 0..N-1 becomes a list (the layers), every other level a Tree. The leaves
    are not copied. Raises ValueError for a name that is both a leaf and a branch, or layer
    indices with a gap."""
    root = Tree()
    for name, leaf in flat.items():
        parts = name.split(".")
        if not all(parts):
            raise ValueError(f"bad parameter name {name!r}: empty part")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = Tree()
            elif not isinstance(child, Tree):
                raise ValueError(f"{'.'.join(parts[:i + 1])!r} is a parameter and also a prefix of {name!r}")
            node = child
        if parts[-1] in node:
            what = "a duplicate" if not isinstance(node[parts[-1]], Tree) else "also a prefix of other names"
            raise ValueError(f"parameter {name!r} is {what}")
        node[parts[-1]] = leaf
    return _lists(root, "")


def _lists(node, prefix):
    """Turn every Tree whose keys are all decimal digits into a list, checking they run 0..N-1."""
    if not isinstance(node, Tree):
        return node
    for key in list(node):
        node[key] = _lists(node[key], f"{prefix}{key}.")
    if node and all(k.isdigit() for k in node):
        keys = sorted(node, key=int)
        if keys != [str(i) for i in range(len(keys))]:
            raise ValueError(f"{prefix.rstrip('.') or 'the tree'}: list indices must run 0..N-1 without gaps "
                             f"or leading zeros, got {keys}")
        return [node[k] for k in keys]
    return node


def named(params):
    """{dotted name: array} of a model's parameters (or gradients): flatten(params) for a tree,
    the dict itself for one that is flat already, {name: array} with no branch. Adam and the
    state dicts read through it, so a model whose params are still a flat dict keeps working."""
    if any(isinstance(v, (dict, list)) for v in params.values()):
        return flatten(params)
    return params


def tree_map(fn, tree):
    """The same shape of tree with fn applied to every leaf (e.g. zeros_like for gradients).
    A Tree stays a Tree and a plain dict a plain dict (a model's flat {name: array} params)."""
    if isinstance(tree, dict):
        return (Tree if isinstance(tree, Tree) else dict)((k, tree_map(fn, v)) for k, v in tree.items())
    if isinstance(tree, list):
        return [tree_map(fn, v) for v in tree]
    return fn(tree)
