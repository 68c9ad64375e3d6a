"""The package's walls, read from the source with `ast` (no TensorFlow needed):

* the maths (config/, ops/, models/, fast/) imports nothing but NumPy (SciPy allowed) and
  never the application (app/), the GPU glue (gpu/) or keras_transformer;
* gpu/ imports the maths, NumPy and, lazily inside functions, CuPy;
* ops/ (the plain maths) depends on nothing in fast/ or models/, and a model on the plain
  kernels (the default) never loads fast/;
* keras_transformer imports from numpy_transformer only the config, the data and the tokenizer,
  never the NumPy maths (that keeps the parity tests meaningful);
* only the command line (app/) reaches keras_transformer, lazily, inside a function;
* the top-level public API is unchanged by the restructure.
"""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "numpy_transformer"
MATHS = [*sorted((PKG / "config").glob("*.py")), *sorted((PKG / "ops").glob("*.py")), *sorted((PKG / "models").glob("*.py")),
         *sorted((PKG / "fast").glob("*.py"))]


def imports(path):
    """(absolute module name, whether at module level) for every import in a file."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
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
            out += [(mod, id(node) in top)] + [(f"{mod}.{a.name}", id(node) in top) for a in node.names]
    return out


def test_the_maths_imports_only_numpy_and_itself():
    for path in MATHS:
        for mod, _ in imports(path):
            root = mod.split(".")[0]
            assert root in sys.stdlib_module_names or root in ("numpy", "scipy", "numpy_transformer"), \
                f"{path.relative_to(ROOT)} imports {mod}"
            assert not mod.startswith(("numpy_transformer.app", "numpy_transformer.gpu", "keras_transformer")), \
                f"{path.relative_to(ROOT)} imports {mod}"


def test_the_gpu_glue_reaches_cupy_only_lazily():
    files = sorted((PKG / "gpu").glob("*.py"))
    assert files
    for path in files:
        for mod, top_level in imports(path):
            root = mod.split(".")[0]
            assert root in sys.stdlib_module_names or root in ("numpy", "numpy_transformer", "cupy"), \
                f"{path.relative_to(ROOT)} imports {mod}"
            assert not (root == "cupy" and top_level), f"{path.relative_to(ROOT)} imports CuPy at module level"
            assert not mod.startswith(("numpy_transformer.app", "keras_transformer")), \
                f"{path.relative_to(ROOT)} imports {mod}"


def test_plain_ops_do_not_depend_on_the_speed_machinery_or_the_models():
    for path in sorted((PKG / "ops").glob("*.py")):
        for mod, _ in imports(path):
            assert not mod.startswith(("numpy_transformer.fast", "numpy_transformer.models")), \
                f"{path.relative_to(ROOT)} imports {mod}"


def test_keras_twin_uses_only_config_data_and_tokenizer():
    allowed = ("numpy_transformer.config", "numpy_transformer.app.data", "numpy_transformer.app.tokenizer")
    files = sorted((ROOT / "keras_transformer").glob("*.py"))
    assert files
    for path in files:
        for mod, _ in imports(path):
            if mod.startswith("numpy_transformer"):
                assert mod.startswith(allowed), f"{path.name} imports {mod}"


def test_only_the_application_reaches_keras_and_only_lazily():
    for path in sorted(PKG.rglob("*.py")):
        for mod, top_level in imports(path):
            if mod.split(".")[0] in ("keras_transformer", "keras", "tensorflow"):
                assert path.parent.name == "app" and not top_level, f"{path.relative_to(ROOT)} imports {mod}"


def test_importing_the_package_loads_no_third_party_module_but_numpy():
    code = ("import sys; before = set(sys.modules); "
            "import numpy_transformer, numpy_transformer.ops, numpy_transformer.models, numpy_transformer.fast, "
            "numpy_transformer.gpu, "
            "numpy_transformer.app.decoding; "
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
