"""One small registry helper: components register under a name where they are defined.

A registry says what it holds (``expects``): registering anything else is a TypeError when the defining module
is imported, so a malformed component never reaches a run. A registry may also carry a descriptor per entry
(``info``): the data sources register a ``DatasetInfo`` beside each loader.

Example:
    >>> from gankit.registry import Registry, subclass_of
    >>> class Loss: ...
    >>> LOSSES = Registry("loss", expects=subclass_of(Loss))
    >>> @LOSSES.register("hinge")
    ... class Hinge(Loss): ...
    >>> LOSSES.get("hinge") is Hinge
    True
    >>> LOSSES.register("oops")(lambda: 0)
    Traceback (most recent call last):
    TypeError: loss 'oops' must be a subclass of Loss, got <function <lambda> ...>
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .errors import GankitError


@dataclass(frozen=True)
class Expects:
    """What a registry accepts: a test and the words for it in the TypeError."""
    test: Callable[[Any], bool]
    what: str

    def __call__(self, obj: Any) -> bool:
        return bool(self.test(obj))


def subclass_of(base: type) -> Expects:
    """Classes derived from ``base`` (the class itself is abstract and not accepted)."""
    return Expects(lambda o: isinstance(o, type) and issubclass(o, base) and o is not base,
                   f"a subclass of {base.__name__}")


def instance_of(base: type) -> Expects:
    return Expects(lambda o: isinstance(o, base), f"an instance of {base.__name__}")


CALLABLE = Expects(callable, "callable (a function or a class)")
ANYTHING = Expects(lambda o: True, "anything")


class Registry:
    """Maps names to objects; `get` of an unknown name raises GankitError with a did-you-mean.

    ``expects`` checks each registered object; ``info`` is the type of the descriptor every entry must carry
    (``register(name, info=...)``, read back with ``info(name)``); None: entries carry none.
    """

    def __init__(self, kind: str, expects: Expects = ANYTHING, info: Optional[type] = None):
        self.kind = kind
        self.expects = expects
        self.info_type = info
        self._items: Dict[str, Any] = {}
        self._infos: Dict[str, Any] = {}

    def register(self, name: str, info: Any = None) -> Callable[[Any], Any]:
        """Decorator (or call) that registers an object under ``name``; checked when it runs."""
        if self.info_type is None and info is not None:
            raise TypeError(f"{self.kind} {name!r}: this registry keeps no descriptor, got {info!r}")
        if self.info_type is not None and not isinstance(info, self.info_type):
            raise TypeError(f"{self.kind} {name!r} needs info={self.info_type.__name__}(...), got {info!r}")

        def deco(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            if not self.expects(obj):
                raise TypeError(f"{self.kind} {name!r} must be {self.expects.what}, got {obj!r}")
            self._items[name] = obj
            if info is not None:
                self._infos[name] = info
            return obj
        return deco

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise GankitError(unknown_name_message(self.kind, name, self.names()))
        return self._items[name]

    __getitem__ = get

    def info(self, name: str) -> Any:
        """The descriptor registered with ``name`` (unknown names: GankitError with a did-you-mean)."""
        if self.info_type is None:
            raise TypeError(f"the {self.kind} registry keeps no descriptors")
        self.get(name)
        return self._infos[name]

    def names(self) -> List[str]:
        return sorted(self._items)

    def items(self) -> List[tuple]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


def unknown_name_message(kind: str, name: str, choices: List[str]) -> str:
    """'unknown loss 'hnige' (did you mean 'hinge'?); choose from: ...'"""
    close = difflib.get_close_matches(str(name), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; choose from: {', '.join(choices)}"
