"""One small registry helper: components register under a name where they are defined.

Example:
    >>> from gankit.registry import Registry
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("hinge")
    ... def hinge(): ...
    >>> LOSSES.get("hinge") is hinge
    True
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, List

from .errors import GankitError


class Registry:
    """Maps names to objects; `get` of an unknown name raises GankitError with a did-you-mean."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj
        return deco

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise GankitError(unknown_name_message(self.kind, name, self.names()))
        return self._items[name]

    def names(self) -> List[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items


def unknown_name_message(kind: str, name: str, choices: List[str]) -> str:
    """'unknown loss 'hnige' (did you mean 'hinge'?); choose from: ...'"""
    close = difflib.get_close_matches(str(name), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; choose from: {', '.join(choices)}"
