"""gankit: train GANs — the lesson recipes, stable recipes, diagnostics and metrics.

    >>> import gankit
    >>> run_dir = gankit.train("ring-2d", overrides=["train.steps=500"], out="runs/ring")
    >>> x = gankit.load_run(run_dir).generate(1000)
    >>> gankit.evaluate(x, "ring-2d")                      # mode metrics
    >>> gankit.stylize("photo.jpg", "painting.jpg")        # neural style transfer
    >>> gankit.interpolate("runs/mnist", 10, "walk.png")   # a latent walk: walk.png and walk.gif
    >>> gankit.report("runs/ring")                         # runs/ring/report.html

Heavy modules load on first use, so `import gankit` stays quick.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "train": ("gankit.api", "train"),
    "sample": ("gankit.api", "sample"),
    "load_run": ("gankit.api", "load_run"),
    "resolve_config": ("gankit.api", "resolve_config"),
    "evaluate": ("gankit.metrics.api", "evaluate"),
    "evaluate_run": ("gankit.metrics.api", "evaluate_run"),
    "stylize": ("gankit.style", "stylize"),
    "interpolate": ("gankit.walk", "interpolate"),
    "report": ("gankit.report", "build_report"),
    "GankitError": ("gankit.errors", "GankitError"),
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")


# ``gankit.train`` and ``gankit.report`` are also subpackages: importing one (anything in gankit does) sets the
# package's attribute to the module, which would hide the exported function. Such a module becomes callable:
# ``gankit.train(...)`` is ``gankit.api.train(...)`` whichever of the two the attribute holds.
_CALLABLE_MODULES = {"train", "report"}


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, attr = _EXPORTS[self.__name__.rpartition(".")[2]]
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
