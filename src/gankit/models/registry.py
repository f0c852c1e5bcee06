"""The model registry: a builder ``(ModelConfig, data shape) -> (G, D)`` registered by name where it is defined,
with a ``ModelInfo`` that says what the model is built for, known before anything is built.

Kept apart from the package's ``__init__`` so that the model modules import it without importing their own
package (no import cycle).

Example:
    >>> @MODELS.register("tiny", info=ModelInfo(data="vector", keys=("model.latent_dim",)))
    ... def tiny(cfg, shape): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from ..registry import CALLABLE, Registry


@dataclass(frozen=True)
class ModelInfo:
    """What config validation and the dry-run need to know about a model family."""
    data: str = "any"                                 # "image", "vector", or "any" (the MLP takes both)
    sizes: Optional[Callable[[int], bool]] = None     # image sizes the builder makes (None: any >= 4)
    sizes_text: str = ""                              # ... in words, for the error message
    keys: Tuple[str, ...] = ()                        # the model.* (and train.*) keys the model reads
    grows: bool = False                               # G and D take a progressive-growing position (set_lod)
    translates: bool = False                          # image-to-image: G maps an input made from a real image
                                                      # (model.task, data/pairs.py) to an image; D judges
                                                      # (input, output) pairs (train/translate.py)

    def __post_init__(self) -> None:
        if self.data not in ("image", "vector", "any"):
            raise TypeError(f"ModelInfo.data must be image, vector or any, got {self.data!r}")
        if self.sizes is not None and not self.sizes_text:
            raise TypeError("ModelInfo.sizes needs sizes_text (the sizes in words)")

    def takes(self, kind: str) -> bool:
        return self.data in ("any", kind)


MODELS = Registry("model", expects=CALLABLE, info=ModelInfo)
