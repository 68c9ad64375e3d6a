"""The ViT's data: scikit-learn's 8×8 digits or an .npz of images, checked and split (80/20,
stratified, a fixed seed; `validation`: a validation split carved from the training part), and
scikit-learn's baselines on the same split."""
from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...config import ViTConfig, check_images, check_labels
from ...data.errors import InputError, MissingFileError


class Split(NamedTuple):
    x_train: np.ndarray   # (N, H, W, C) float, pixels in [0, 1]
    y_train: np.ndarray
    x_eval: np.ndarray    # the test split (or the validation split with --validation)
    y_eval: np.ndarray
    eval_name: str
    num_classes: int


def load_split(data=None, data_seed=0, validation=False):
    """Digits (pixels 0..16 scaled to [0, 1], channel axis added) or an .npz file; checked
    (shape, NaN, labels) before anything trains; split 80/20, stratified, seed `data_seed`."""
    from sklearn.model_selection import train_test_split
    if data is None:
        from sklearn.datasets import load_digits
        d = load_digits()
        images, labels, num_classes = d.images / 16.0, d.target, 10
    else:
        images, labels = read_npz(data)
        num_classes = None
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]          # grey-scale: one channel
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise InputError(f"images must be square, (N, H, H) or (N, H, H, C), got {images.shape}")
    try:                                    # the checks the model's entry makes, on the user's data
        labels = check_labels(labels, num_classes or int(np.max(labels)) + 1, images.shape[0])
        num_classes = num_classes or int(labels.max()) + 1
        shape_only = ViTConfig(images.shape[1], images.shape[3], 1, max(num_classes, 2))   # for check_images
        images = check_images(images, shape_only, "training images").astype(np.float64)
    except ValueError as e:
        raise InputError(str(e)) from None
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=0.2, random_state=data_seed, stratify=labels)
    if validation:
        x_tr, x_te, y_tr, y_te = train_test_split(x_tr, y_tr, test_size=0.2, random_state=data_seed, stratify=y_tr)
    return Split(x_tr, y_tr, x_te, y_te, "validation" if validation else "test", num_classes)


def read_npz(path):
    """The arrays 'images' and 'labels' of an .npz archive. Never unpickles (allow_pickle=False),
    and never passes on NumPy's advice to load a pickle unsafely: a file that is not an .npz
    archive, or holds object arrays, is refused with the reason."""
    if not Path(path).is_file():                # a resumed run's data file that has gone
        raise MissingFileError(f"{path}: no such file (the images the run was trained on)")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a NumPy .npz archive (the zip of arrays numpy.savez writes, with "
                         f"'images' (N, H, W[, C]) and 'labels' (N,))")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f or "labels" not in f:
                raise InputError(f"{path}: expected arrays 'images' and 'labels', found {sorted(f.files)}")
            return f["images"], f["labels"]
    except InputError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise InputError(f"{path}: holds object arrays, which are never unpickled; save plain numeric "
                             f"arrays (numpy.savez(path, images=…, labels=…))") from None
        raise InputError(f"{path}: unreadable .npz archive ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: unreadable .npz archive ({type(e).__name__}: {e})") from None


def baselines(split, seed):
    """scikit-learn on the same split, flattened pixels: {name: (accuracy, seconds)}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    xtr, xte = split.x_train.reshape(len(split.x_train), -1), split.x_eval.reshape(len(split.x_eval), -1)
    out = {}
    for name, clf in (("logistic regression", LogisticRegression(max_iter=5000)),
                      ("MLP (256 hidden, ReLU, Adam)", MLPClassifier((256,), max_iter=1000, random_state=seed))):
        t0 = time.perf_counter()
        clf.fit(xtr, split.y_train)
        out[name] = (float(clf.score(xte, split.y_eval)), time.perf_counter() - t0)
    return out
