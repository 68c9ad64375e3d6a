"""The notebooks (see notebooks/README.md); `python -m notebooks.build` regenerates them."""
