"""Mode-collapse metrics from the literature.

2-D mixtures (ring of 8, grid of 25), the protocol of VEEGAN (Srivastava et al. 2017) as extended by PacGAN
(Lin et al. 2018): a generated sample is *high quality* when it lies within 3 standard deviations of its
nearest mode centre; a mode is *covered* when at least one high-quality sample falls to it; the *reverse KL*
is KL(p_gen || uniform) over the modes, where p_gen is the histogram of the high-quality samples over their
nearest modes (low-quality samples are left out of it). The papers draw 2 500 samples.

Stacked MNIST (three MNIST digits as the R, G, B channels; 1 000 modes; Metz et al. 2017, "Unrolled GANs",
used with this protocol in VEEGAN and PacGAN): each channel is classified by the MNIST classifier, the digit
triple is the mode; report modes with at least one sample and KL(p_gen || uniform over 1 000) over 26 000
samples.

Example:
    >>> from gankit.data.toy import grid_modes
    >>> modes = grid_modes()
    >>> x = modes[torch.randint(25, (2500,))] + 0.05 * torch.randn(2500, 2)
    >>> mixture_modes(x.numpy(), modes.numpy(), std=0.05)["modes"]
    25
"""
from __future__ import annotations

from typing import Any, Callable, Dict

import numpy as np
import torch

STACKED_MODES = 1000


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) in nats for a histogram of counts (empty bins add 0); 0 when counts are all zero."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float((p * np.log(p * len(counts))).sum())


def mixture_modes(samples: np.ndarray, modes: np.ndarray, std: float, threshold: float = 3.0) -> Dict[str, Any]:
    """PacGAN/VEEGAN statistics of samples (N, 2) against mode centres (M, 2) with isotropic ``std``.

    Returns ``modes`` (covered), ``modes_total``, ``hq`` (share of high-quality samples), ``rkl`` and
    ``mode_hist`` (high-quality samples per mode).
    """
    x = torch.as_tensor(np.asarray(samples, np.float64))
    c = torch.as_tensor(np.asarray(modes, np.float64))
    dist, nearest = torch.cdist(x, c).min(1)                      # (N,), (N,)
    good = dist <= threshold * std
    hist = torch.bincount(nearest[good], minlength=len(c)).numpy()
    return {"modes": int((hist > 0).sum()), "modes_total": int(len(c)),
            "hq": float(good.double().mean()), "rkl": kl_to_uniform(hist), "mode_hist": hist.tolist()}


def stacked_digits(images: torch.Tensor, classify: Callable[[torch.Tensor], torch.Tensor],
                   batch_size: int = 1000) -> np.ndarray:
    """Digits of each channel: uint8 images (N, 3, H, W) -> int (N, 3), channel 0 (red) first.

    ``classify`` maps uint8 (B, 1, H, W) to logits (B, 10), e.g. the ``mnist`` extractor's logits.
    """
    n, ch = images.shape[:2]
    if ch != 3:
        raise ValueError(f"stacked MNIST samples need 3 channels, got {ch}")
    out = np.empty((n, 3), np.int64)
    for i in range(0, n, batch_size):
        part = images[i:i + batch_size]
        flat = part.reshape(-1, 1, *part.shape[2:])                # (B*3, 1, H, W): channel-major per image
        out[i:i + len(part)] = classify(flat).argmax(1).reshape(len(part), 3).numpy()
    return out


def stacked_modes(digits: np.ndarray) -> Dict[str, Any]:
    """Modes covered and KL to uniform over the 1 000 digit triples from digits (N, 3)."""
    d = np.asarray(digits, np.int64)
    ids = d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
    counts = np.bincount(ids, minlength=STACKED_MODES)
    return {"stacked_modes": int((counts > 0).sum()), "stacked_kl": kl_to_uniform(counts),
            "stacked_n": int(len(d))}
