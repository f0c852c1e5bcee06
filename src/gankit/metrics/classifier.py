"""The small MNIST / Fashion-MNIST CNN behind the `mnist` and `fashion` feature extractors.

Trained by ``scripts/train_classifier.py`` on the training split; the weights ship in ``metrics/weights``.
Its 128-d pooled features give a Fréchet distance in a space that knows digits, and its softmax gives the
classifier-based scores below.

Example:
    >>> net = load_classifier("mnist")                       # MnistNet in eval mode
    >>> probs = net(torch.zeros(4, 1, 28, 28)).softmax(1)    # (4, 10)
    >>> scores = class_scores(probs.numpy())                 # {"is": ..., "confident": ..., ...}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import torch
from torch import nn

from ..errors import GankitError

WEIGHTS_DIR = Path(__file__).parent / "weights"
CONFIDENT = 0.9          # a sample is "confidently classified" when its top softmax probability is >= this


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MnistNet(nn.Module):
    """Five 3x3 conv blocks and global average pooling: 28x28 grayscale in [-1, 1] -> 10 logits (~140k weights)."""

    feature_dim = 128

    def __init__(self, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            _block(1, 32), _block(32, 32), nn.MaxPool2d(2),          # (B, 32, 14, 14)
            _block(32, 64), _block(64, 64), nn.MaxPool2d(2),         # (B, 64, 7, 7)
            _block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 128)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(128, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.body(x)))  # (B, classes) logits

    def features_and_logits(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(f)


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def load_classifier(name: str) -> MnistNet:
    """The shipped classifier for ``mnist`` or ``fashion`` (eval mode, CPU); ``.meta`` holds its test accuracy."""
    path = weights_path(name)
    if not path.is_file():
        raise GankitError(f"no classifier weights at {path}; train them with "
                          f"`python scripts/train_classifier.py --data {name}`")
    saved: Dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    net = MnistNet(int(saved["meta"].get("classes", 10)))
    net.load_state_dict(saved["state_dict"])
    net.meta = dict(saved["meta"])  # type: ignore[assignment]
    return net.eval()


def save_classifier(net: MnistNet, name: str, meta: Dict[str, Any], path: Path | None = None) -> Path:
    """Write weights (fp32 state_dict) and metadata where ``load_classifier`` finds them."""
    path = path or weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    # plain values only, so that weights_only loading accepts the file (torch.__version__ is not a str)
    plain = {k: v if isinstance(v, (bool, int, float)) else str(v) for k, v in meta.items()}
    torch.save({"state_dict": state, "meta": plain}, path)
    return path


def inception_score(probs: np.ndarray, splits: int = 1) -> Tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))), mean and std over ``splits`` chunks (Salimans et al. 2016, "Improved
    Techniques for Training GANs"); here p(y|x) is the domain classifier's softmax, so 10 is the maximum."""
    probs = np.asarray(probs, dtype=np.float64)
    scores = []
    for part in np.array_split(probs, max(1, min(splits, len(probs)))):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def class_scores(probs: np.ndarray, threshold: float = CONFIDENT) -> Dict[str, Any]:
    """Classifier statistics of samples from their softmax (N, K).

    ``is``: classifier Inception Score; ``confident``: share with top probability >= threshold;
    ``class_hist``: share of each class among the confident samples (all samples when none is confident);
    ``class_kl``: KL(class_hist || uniform) in nats (0 = balanced, log K = one class);
    ``classes``: classes holding at least half their fair share (1 / 2K) of the confident samples;
    ``min_class_share``: the smallest entry of class_hist.

    Example:
        >>> class_scores(np.eye(10)[np.arange(100) % 10])["classes"]
        10
    """
    probs = np.asarray(probs, dtype=np.float64)
    k = probs.shape[1]
    top = probs.max(1)
    sure = top >= threshold
    chosen = probs.argmax(1)[sure] if sure.any() else probs.argmax(1)
    hist = np.bincount(chosen, minlength=k).astype(np.float64)
    hist /= max(hist.sum(), 1.0)
    nz = hist > 0
    kl = float((hist[nz] * np.log(hist[nz] * k)).sum())
    return {"is": inception_score(probs)[0], "confident": float(sure.mean()),
            "class_hist": [round(float(h), 4) for h in hist], "class_kl": kl,
            "classes": int((hist >= 0.5 / k).sum()), "min_class_share": float(hist.min())}
