"""The model registry: a builder ``(ModelConfig, data shape) -> (G, D)`` registered by name where it is defined.

Kept apart from the package's ``__init__`` so that the model modules import it without importing their own
package (no import cycle).

Example:
    >>> @MODELS.register("tiny")
    ... def tiny(cfg, shape): ...
"""
from __future__ import annotations

from ..registry import CALLABLE, Registry

MODELS = Registry("model", expects=CALLABLE)
