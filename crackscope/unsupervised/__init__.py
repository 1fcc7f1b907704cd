"""UP-CrackNet: unsupervised crack maps by adversarial restoration of crack-free surfaces.

Ma, Fan, Xie, "UP-CrackNet: Unsupervised Pixel-Wise Road Crack Detection via Adversarial Image
Restoration", IEEE T-ITS 2024. A pix2pix-style generator learns to restore checkerboard-corrupted
crack-free images; at test time a crack is what it cannot restore.
"""

import lazy_loader

# names are imported on first use (scikit-image's lazy_loader; the names are in __init__.pyi),
# so importing crackscope.unsupervised imports no torch
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
