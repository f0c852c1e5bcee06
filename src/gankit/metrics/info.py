"""What a metric is, registered beside its function (``@METRICS.register(name, info=MetricInfo(...))``).

Everything else reads these descriptors: whether a metric compares with real data, whether it uses the feature
extractor, and what each number it returns means and which direction is better (``gankit eval``'s table).

Example:
    >>> info = MetricInfo("Fréchet distance", (Output("fid_{f}", "Fréchet distance of the features", "lower"),),
    ...                   reference=True)
    >>> info.outputs[0].key_for("inception")
    'fid_inception'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

BETTER = ("lower", "higher", "")   # "": neither (a count to read, a spread, a histogram)


@dataclass(frozen=True)
class Output:
    """One number a metric returns: its key (``{f}`` stands for the feature extractor's name), what it means and
    which direction is better. A key ``<key>_std`` beside it is its spread and is shown with it."""
    key: str
    meaning: str
    better: str = ""

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise TypeError(f"output {self.key!r}: better must be one of {BETTER}, got {self.better!r}")

    def key_for(self, features: str) -> str:
        return self.key.replace("{f}", features)


@dataclass(frozen=True)
class MetricInfo:
    """A metric's descriptor: a one-line summary, its outputs, whether it needs reference (real) data and
    whether it uses the feature extractor."""
    what: str
    outputs: Tuple[Output, ...]
    reference: bool = False
    features: bool = True
