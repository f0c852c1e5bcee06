"""The one place a device name becomes a ``torch.device``: training, sampling and feature extraction share it.

Example:
    >>> pick_device("cpu")
    device(type='cpu')
"""
from __future__ import annotations

import re

import torch

from .errors import GankitError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str, key: str = "train.device") -> None:
    """A GankitError unless ``name`` is one torch accepts here (auto = CUDA when present, else CPU)."""
    if not isinstance(name, str) or not _PATTERN.match(name):
        raise GankitError(f"{key} must be {DEVICE_NAMES}, got {name!r}")


def pick_device(name: str = "auto", key: str = "train.device") -> torch.device:
    """``auto``: CUDA when a GPU is visible, else the CPU; ``cuda``/``cuda:N``/``mps`` only when present."""
    check_device_name(name, key)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise GankitError(f"{key}={name} but no CUDA GPU is visible; use {key}=cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise GankitError(f"{key}={name} but only {torch.cuda.device_count()} CUDA GPU(s) are visible "
                              f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GankitError(f"{key}=mps but this torch has no usable Apple GPU; use {key}=cpu")
    return dev
