"""CPU hot-path helpers the Trainer applies in reduced precision (measured in benchmarks/throughput.py).

``speed_up(G, D, precision, device)`` is what the Trainer calls: with bf16/fp16 on the CPU it swaps in
``FastDropout`` and, for conv nets, puts G and D in channels-last (oneDNN's bf16 convolutions otherwise make
NCHW copies of activations and gradients: ~1.2x on the DCGAN-32 step here); fp32 runs are left exactly as built.

``torch.nn.Dropout`` on the CPU draws its mask with ``bernoulli_``: one Mersenne-Twister draw and a float
comparison per element, ~32% of a lesson-001 step in bf16 (docs/performance.md). ``FastDropout`` takes two
masks from each 32-bit draw of ``random_()`` (its low 16 bits and its next 15), compares them to integer
thresholds and applies ``x * mask * 1/(1-p)`` as one multiplication in x's dtype. The keep probability is
1 - p to within 2^-15 (p = 0.3 keeps 0.699997 / 0.700012 of the units) — a rounding of p far below the bf16
rounding of the activations it multiplies — so the Trainer uses it only when ``train.precision`` is bf16/fp16
on the CPU; fp32 keeps torch's own dropout bit for bit. It draws from torch's default generator, so a run stays
reproducible and resumes exactly. No state: swapping it in leaves state_dict keys unchanged.

Example:
    >>> D = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
    >>> use_fast_dropout(D)          # 1 module swapped
    1
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn


class FastDropout(nn.Dropout):
    """Inverted dropout with integer-threshold masks (see module docstring). An nn.Dropout: same p (which may be
    changed while training, e.g. by a remedy), same call; no buffers, so state_dict and DDP see nothing new."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.training or not 0.0 < self.p < 1.0 or self.inplace or x.device.type != "cpu"
                or sys.byteorder != "little"):
            return F.dropout(x, self.p, self.training, self.inplace)
        n = x.numel()
        words = torch.empty((n + 1) // 2, dtype=torch.int32).random_()  # 31 random bits each
        keep = words.view(torch.int16).view(-1, 2) >= self.thresholds()  # (ceil(n/2), 2): two masks per word
        scale = torch.tensor(1.0 / (1.0 - self.p), dtype=x.dtype)  # 0-dim: keep * scale comes out in x's dtype
        mask = (keep * scale).view(-1)[:n].view_as(x)  # (torch.where with two scalars is ~2x slower here)
        return x * mask  # backward: grad * mask, like torch's dropout

    def thresholds(self) -> torch.Tensor:
        """Keep a unit when its 16-bit slice >= threshold: low halves of a word are uniform on [-2^15, 2^15),
        high halves on [0, 2^15)."""
        if getattr(self, "_p_seen", None) != self.p:
            self._thr = torch.tensor([round(self.p * 65536) - 32768, round(self.p * 32768)], dtype=torch.int16)
            self._p_seen = self.p
        return self._thr


def use_fast_dropout(module: nn.Module) -> int:
    """Replace every nn.Dropout inside ``module`` by FastDropout with the same p; returns how many."""
    swapped = 0
    for name, child in list(module.named_children()):
        if type(child) is nn.Dropout:
            setattr(module, name, FastDropout(child.p, child.inplace).train(child.training))
            swapped += 1
        else:
            swapped += use_fast_dropout(child)
    return swapped


def speed_up(G: nn.Module, D: nn.Module, precision: str, device: torch.device) -> torch.memory_format:
    """Apply the reduced-precision CPU fast path to G and D in place; returns the memory format real image
    batches should arrive in (channels_last for conv nets, else contiguous)."""
    if precision == "fp32" or device.type != "cpu":
        return torch.contiguous_format
    use_fast_dropout(G), use_fast_dropout(D)
    convs = (nn.Conv2d, nn.ConvTranspose2d)
    if any(isinstance(m, convs) for m in list(G.modules()) + list(D.modules())):
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
        return torch.channels_last
    return torch.contiguous_format
