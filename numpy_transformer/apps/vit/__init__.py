"""The Vision Transformer on scikit-learn's 8×8 digits: `python -m numpy_transformer vit`."""
