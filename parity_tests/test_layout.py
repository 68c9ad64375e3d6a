"""The package's walls, read from the source with `ast` (no TensorFlow needed). The layers
(docs/architecture.md), each allowed to import only those listed for it:

    config/                   nothing of the package (pure metadata; NumPy inside functions)
    ops/                      config/                                  the plain maths
    fast/                     ops/, config/                            speed machinery
    models/                   ops/, fast/, config/                     whole models, decoding
    gpu/                      the maths above, and CuPy lazily
    data/                     nothing of the package                   data and tokenizers
    training/                 the maths, data/                         the shared training layer
    apps/<one>/               the maths, data/, training/, cli/options, its own folder
    cli/                      apps/, training/, data/, cli/options     the command line

and, over every `import` in the package (nested ones included), no module imports one that
imports it back. keras_transformer imports from numpy_transformer only config/ and data/ (that
keeps the parity tests meaningful); only the applications and training/ reach Keras, lazily; a
model on the plain kernels (the default) never loads fast/.
"""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "numpy_transformer"
MATHS = ("config", "ops", "fast", "models")
ALLOWED = {
    "config": set(), "ops": {"config"}, "fast": {"ops", "config"}, "models": {"ops", "fast", "config"},
    "gpu": {"ops", "fast", "models", "config"}, "data": set(),
    "training": {"ops", "fast", "models", "config", "data"},
    "apps": {"ops", "fast", "models", "config", "data", "training", "cli.options"},
    "cli": {"apps", "training", "data", "config", "cli.options"},
}


def module_of(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules():
    return {module_of(p): p for p in sorted(PKG.rglob("*.py"))}


def imports(path):
    """(absolute module name, whether at module level) for every import in a file; `from X
    import Y` gives X.Y when that is a module of the package, else X."""
    tree = ast.parse(path.read_text())
    mods = all_modules()
    pkg = module_of(path) if path.name == "__init__.py" else module_of(path).rpartition(".")[0]
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods]
            out += [(m, id(node) in top) for m in subs or [mod]]
    return out


def layer(mod):
    """'ops', 'apps.vit', 'cli.options', … for a numpy_transformer module; None for the top."""
    parts = mod.split(".")[1:]
    if not parts or parts[0] in ("__main__",):
        return None
    if parts[0] == "apps" and len(parts) > 1:
        return f"apps.{parts[1]}"
    if parts[:2] == ["cli", "options"]:
        return "cli.options"
    return parts[0]


def test_every_layer_imports_only_the_layers_below_it():
    checked = 0
    for mod, path in all_modules().items():
        mine = layer(mod)
        if mine is None or mine == "cli.options":
            continue
        allowed = ALLOWED[mine.split(".")[0]] | {mine}
        for target, _ in imports(path):
            if not target.startswith("numpy_transformer.") or target == "numpy_transformer":
                assert target != "numpy_transformer", f"{mod} imports the top-level package"
                continue
            theirs = layer(target)
            if theirs.startswith("apps."):      # an application reaches no other application
                ok = theirs == mine or "apps" in allowed
            else:
                ok = theirs in allowed or theirs.split(".")[0] in allowed
            assert ok, f"{mod} ({mine}) imports {target} ({theirs})"
            checked += 1
    assert checked > 100


def test_the_maths_imports_only_numpy_and_itself():
    for mod, path in all_modules().items():
        if layer(mod) not in MATHS:
            continue
        for target, _ in imports(path):
            root = target.split(".")[0]
            assert root in sys.stdlib_module_names or root in ("numpy", "scipy", "numpy_transformer"), \
                f"{mod} imports {target}"


def test_no_module_imports_one_that_imports_it_back():
    """Tarjan's strongly connected components over every import, nested ones included."""
    mods = all_modules()
    graph = {m: {t for t, _ in imports(p) if t in mods and t != m} for m, p in mods.items()}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert sum(len(g) for g in graph.values()) > 150      # the scan sees the imports
    assert not cycles, f"import circles: {cycles}"


def test_the_gpu_glue_reaches_cupy_only_lazily():
    files = sorted((PKG / "gpu").glob("*.py"))
    assert files
    for path in files:
        for mod, top_level in imports(path):
            root = mod.split(".")[0]
            assert root in sys.stdlib_module_names or root in ("numpy", "numpy_transformer", "cupy"), \
                f"{path.relative_to(ROOT)} imports {mod}"
            assert not (root == "cupy" and top_level), f"{path.relative_to(ROOT)} imports CuPy at module level"


def test_keras_twin_uses_only_config_and_data():
    allowed = ("numpy_transformer.config", "numpy_transformer.data")
    files = sorted((ROOT / "keras_transformer").glob("*.py"))
    assert files
    for path in files:
        for mod, _ in imports(path):
            if mod.startswith("numpy_transformer"):
                assert mod.startswith(allowed), f"{path.name} imports {mod}"


def test_only_the_applications_reach_keras_and_only_lazily():
    for mod, path in all_modules().items():
        for target, top_level in imports(path):
            if target.split(".")[0] in ("keras_transformer", "keras", "tensorflow", "jax", "torch"):
                assert (layer(mod) or "").split(".")[0] in ("apps", "training") and not top_level, \
                    f"{mod} imports {target}"


def test_importing_the_package_loads_no_third_party_module_but_numpy():
    code = ("import sys; before = set(sys.modules); "
            "import numpy_transformer, numpy_transformer.ops, numpy_transformer.models, numpy_transformer.fast, "
            "numpy_transformer.gpu, numpy_transformer.data, numpy_transformer.models.decoding, "
            "numpy_transformer.cli.main; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(','.join(sorted(new - set(sys.stdlib_module_names) - {'numpy', 'scipy', 'numpy_transformer'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_a_plain_model_never_loads_the_speed_machinery():
    """models/kernels.py imports fast/ on the first request for kernels="fast" only: a model on
    the default (plain) kernels trains and decodes without it; asking for fast loads it."""
    code = ("import sys, numpy as np; "
            "from numpy_transformer import BertConfig, BertEncoder, Transformer, TransformerConfig, ViTConfig, "
            "VisionTransformer; "
            "m = Transformer(TransformerConfig(5, 5, d_model=4, num_heads=1, d_ff=4, num_layers=1)); "
            "ids = np.array([[1, 2, 3]]); m.backward(np.ones_like(m.forward(ids, ids, training=True))); "
            "m.decode_step(np.array([1]), m.start_decoding(ids, 2)); "
            "VisionTransformer(ViTConfig(image_size=4, channels=1, patch_size=2, num_classes=2)); "
            "BertEncoder(BertConfig(vocab_size=6)); "
            "print(any(k.startswith('numpy_transformer.fast') for k in sys.modules)); "
            "Transformer(TransformerConfig(5, 5, d_model=4, num_heads=1, d_ff=4, num_layers=1), kernels='fast'); "
            "print('numpy_transformer.fast' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "True"]


def test_public_api_is_importable_from_the_top_level():
    import numpy_transformer as nt
    for name in ("TransformerConfig", "Transformer", "masked_cross_entropy", "masked_accuracy",
                 "positional_encoding", "scaled_dot_product_attention", "padding_mask", "causal_mask",
                 "Adam", "WarmupSchedule", "gradcheck", "clip_grad_norm", "parameter_shapes"):
        assert callable(getattr(nt, name)), name
