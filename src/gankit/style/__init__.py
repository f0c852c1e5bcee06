"""Neural style transfer (Gatys et al., 2016) with registered feature backbones.

    >>> from gankit.style import stylize
    >>> stylize("content.jpg", "style.jpg", size=256, out="result.png")

See docs/style.md for the backbones, the layer/weight choices and timings.
"""
from .backbones import BACKBONES, StyleNet, get_backbone
from .transfer import Options, Result, run, stylize

__all__ = ["stylize", "run", "Options", "Result", "BACKBONES", "StyleNet", "get_backbone"]
