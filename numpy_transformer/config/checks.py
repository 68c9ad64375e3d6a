"""Input checks shared by both backends (token ids, images, labels, the warm-up schedule):
one clear error for each problem, before any computation."""
from __future__ import annotations

def check_warmup(d_model, warmup_steps):
    """The warm-up schedule's arguments (both backends' WarmupSchedule): ints ≥ 1."""
    if d_model < 1 or warmup_steps < 1:
        raise ValueError(f"WarmupSchedule needs d_model >= 1 and warmup_steps >= 1, got {d_model}, {warmup_steps}")
    return int(d_model), int(warmup_steps)


def check_ids(ids, vocab_size, max_len, name="ids"):
    """Validate a (batch, seq_len) array of token ids against a vocabulary and max_len (both
    backends): raises a TypeError/ValueError naming the problem, returns the array."""
    import numpy as np  # local: config stays importable as pure metadata

    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got {ids.shape}"
                         + (" (use ids[None] for a single sequence)" if ids.ndim == 1 else ""))
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {ids.shape}")
    if ids.shape[1] > max_len:
        raise ValueError(f"{name} has length {ids.shape[1]} > max_len={max_len}")
    lo, hi = ids.min(), ids.max()
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contains id {bad} outside the vocabulary [0, {vocab_size})")
    return ids


def check_images(images, cfg, name="images"):
    """Validate a batch of images for a ViTConfig (both backends): a real-valued array of shape
    (batch, image_size, image_size, channels), channels last, every pixel finite. Raises a
    TypeError/ValueError naming the problem; returns the array (not yet cast)."""
    import numpy as np  # local: config stays importable as pure metadata

    images = np.asarray(images)
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)) \
            or images.dtype == np.bool_:
        raise TypeError(f"{name} must hold real pixel values, got dtype {images.dtype}")
    want = (cfg.image_size, cfg.image_size, cfg.channels)
    if images.ndim != 4:
        hint = " (a single image? use images[None])" if images.shape == want else (
            " (add the channel axis: images[..., None])" if images.ndim == 3 and cfg.channels == 1 else "")
        raise ValueError(f"{name} must have shape (batch, {want[0]}, {want[1]}, {want[2]}), got {images.shape}{hint}")
    if images.shape[1:3] != want[:2]:
        raise ValueError(f"{name} are {images.shape[1]}x{images.shape[2]} pixels, the model expects "
                         f"{want[0]}x{want[1]} (image_size={cfg.image_size})")
    if images.shape[3] != cfg.channels:
        raise ValueError(f"{name} have {images.shape[3]} channels, the model expects {cfg.channels} "
                         f"(channels last: (batch, height, width, channels))")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if np.issubdtype(images.dtype, np.floating) and not np.all(np.isfinite(images)):
        bad = int(np.sum(~np.isfinite(images).all(axis=(1, 2, 3))))
        raise ValueError(f"{name} contain NaN or inf pixels ({bad} of {images.shape[0]} images)")
    return images


def check_labels(labels, num_classes, batch=None, name="labels"):
    """Class labels: a 1-D integer array with every value in [0, num_classes)."""
    import numpy as np  # local: config stays importable as pure metadata

    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be integer class ids, got dtype {labels.dtype}")
    if labels.ndim != 1 or (batch is not None and labels.shape[0] != batch):
        raise ValueError(f"{name} must have shape ({batch if batch is not None else 'batch'},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"{name} contain class {bad} outside [0, {num_classes})")
    return labels
