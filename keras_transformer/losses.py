"""Masked cross-entropy and masked accuracy over token positions (the book's loss_fcn and
accuracy_fcn, with the mask built from `pad_id` and optional label smoothing)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
def masked_loss(y_true, y_pred, pad_id=0, label_smoothing=0.0):
    """Mean token cross-entropy over the positions whose label is not `pad_id`:
    L = (1/N) Σ_t −Σ_c q_tc log softmax(z_t)_c with q = (1−ε)·onehot(label) + ε/V (Keras'
    categorical label smoothing). y_true (B, T) int ids, y_pred (B, T, V) logits."""
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    y_pred = ops.convert_to_tensor(y_pred)
    onehot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    per_token = keras.losses.categorical_crossentropy(onehot, y_pred, from_logits=True,
                                                      label_smoothing=label_smoothing)
    mask = ops.cast(ops.not_equal(y_true, pad_id), y_pred.dtype)
    return ops.sum(per_token * mask) / ops.sum(mask)


@keras.saving.register_keras_serializable(package="keras_transformer")
def masked_accuracy(y_true, y_pred, pad_id=0):
    """Fraction of non-pad positions where argmax(logits) equals the label."""
    keep = ops.not_equal(y_true, pad_id)
    hit = ops.logical_and(ops.equal(ops.cast(y_true, "int32"), ops.cast(ops.argmax(y_pred, axis=-1), "int32")),
                          keep)
    return ops.sum(ops.cast(hit, "float32")) / ops.sum(ops.cast(keep, "float32"))


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedLoss(keras.losses.Loss):
    """masked_loss as a serializable keras Loss (for model.compile); the masked mean is the
    reduction, so Keras' own reduction sees a scalar."""

    def __init__(self, pad_id=0, label_smoothing=0.0, name="masked_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id, self.label_smoothing = int(pad_id), float(label_smoothing)

    def call(self, y_true, y_pred):
        return masked_loss(y_true, y_pred, self.pad_id, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id, "label_smoothing": self.label_smoothing}
