"""pix2pix (Isola et al. 2017): a U-Net generator that translates an image made from a real one (model.task:
inpaint, superres, colorize; data/pairs.py) and a PatchGAN discriminator that judges (input, output) pairs.

G's output is composed with what the input already knows, so G learns only what is missing:

* ``inpaint`` — G starts from the baseline: the hole blur-filled from its border (``data.pairs.blur_fill``) is
  what G sees in the hole and what its output adds a residual to there, the known pixels kept:
  ``x (1 - m) + (fill + h) m`` (the residual starts at zero, so an untrained G is the blur fill);
* ``superres`` — G adds detail to the bicubic input: ``input + h``;
* ``colorize`` — the luminance is kept, G draws the chroma (Cb, Cr = tanh(h)), turned into RGB.

G keeps ``examples``, a buffer of a few target images (filled from the data when training starts, saved with
the weights): ``draw_inputs(n, generator)`` makes inputs from them, which is what a translator's "noise" is
(sample grids, the diagnoser's probes, ``Run.generate``). D takes (B, C_in + C, H, W) and returns (B, P) logits,
one per patch.

Example:
    >>> G, D = build_models(ModelConfig(name="pix2pix", task="superres"), (3, 64, 64))
    >>> x = torch.rand(2, 3, 64, 64) * 2 - 1
    >>> G(x).shape, D(torch.cat([x, G(x)], 1)).shape
    (torch.Size([2, 3, 64, 64]), torch.Size([2, 64]))
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from ..config import ModelConfig
from ..data.pairs import TASKS, blur_fill, input_channels, make_inputs
from ..errors import GankitError
from .registry import MODELS, ModelInfo
from .traits import ModelTraits, Network

EXAMPLES = 16          # target images G keeps for its inputs ("noise") in sample grids and probes
BOTTOM = 4             # the U-Net goes down to 4x4


def _norm(c: int) -> nn.Module:
    return nn.GroupNorm(min(8, c // 4) or 1, c)  # batch-independent: the same in training and sampling


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, leak: float, norm: bool = True):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), _norm(cout) if norm else nn.Identity(),
                                  nn.LeakyReLU(leak))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Up(nn.Module):
    """Nearest 2x upsampling and a 3x3 conv (no checkerboard), then the skip from the encoder concatenated."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                                  _norm(cout), nn.ReLU())

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.body(x), skip], 1)


class UNetG(Network):
    """U-Net: (B, C_in, S, S) -> (B, C, S, S) in about [-1, 1]; widths ngf, 2 ngf, 4 ngf, ... (at most 8 ngf)."""
    traits = ModelTraits(translates=True)

    def __init__(self, task: str, channels: int, size: int, ngf: int, leak: float):
        super().__init__()
        self.task, self.channels = task, channels
        cin = input_channels(task, channels)
        depth = (size // BOTTOM).bit_length() - 1                 # 64 px: 4 levels down to 4x4
        widths = [ngf * min(2 ** i, 8) for i in range(depth)]
        self.stem = nn.Sequential(nn.Conv2d(cin, ngf, 3, 1, 1), nn.LeakyReLU(leak))   # full-size features
        self.downs = nn.ModuleList(_Down(c_in, c_out, leak) for c_in, c_out in zip([ngf] + widths[:-1], widths))
        ups: List[nn.Module] = []
        c = widths[-1]
        for skip in reversed([ngf] + widths[:-1]):
            ups.append(_Up(c, skip))
            c = 2 * skip
        self.ups = nn.ModuleList(ups)
        self.head = nn.Conv2d(c, 2 if task == "colorize" else channels, 3, 1, 1)
        if task in ("superres", "inpaint"):  # start as the baseline (bicubic, blur fill): the residual grows from 0
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.register_buffer("examples", torch.zeros(EXAMPLES, channels, size, size))
        self.register_buffer("filled", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task == "inpaint":  # the hole blur-filled: G sees the baseline and adds to it
            x = fill_hole(x)
        skips, h = [], self.stem(x)
        for down in self.downs:
            skips.append(h)
            h = down(h)
        for up, skip in zip(self.ups, reversed(skips)):
            h = up(h, skip)
        h = self.head(h)
        return compose(self.task, x, h)

    @torch.no_grad()
    def set_examples(self, images: torch.Tensor) -> None:
        """Keep up to EXAMPLES target images (float in [-1, 1], repeated when fewer) for ``draw_inputs``."""
        idx = torch.arange(EXAMPLES) % len(images)
        self.examples.copy_(images[idx].to(self.examples))
        self.filled.fill_(True)

    def draw_inputs(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """n inputs made from the kept examples (cycled; holes drawn with ``generator``)."""
        if not bool(self.filled):
            raise GankitError("this translator holds no example images yet; train it first (gankit train)")
        x = self.examples[torch.arange(n) % EXAMPLES]
        dev = generator.device if generator is not None else None
        g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=dev)))
        return make_inputs(self.task, x.cpu(), g).to(self.examples.device)


def fill_hole(x: torch.Tensor) -> torch.Tensor:
    """An inpainting input (image with grey holes, mask) with the holes blur-filled instead (in float32, also
    under autocast: bf16 drifts over the fill's many averaging rounds); the mask channel kept."""
    img, m = x[:, :-1], x[:, -1:]
    with torch.autocast(x.device.type, enabled=False):
        fill = blur_fill(img.float(), m.float()).to(x.dtype)
    return torch.cat([torch.where(m.bool(), fill, img), m], 1)


def compose(task: str, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """G's output from its input ``x`` and its head ``h`` (see the module docstring; for inpainting ``x`` is
    the input after ``fill_hole``)."""
    if task == "superres":
        return x + h
    if task == "inpaint":
        m = x[:, -1:]
        return x[:, :-1] + h * m
    y, chroma = x, torch.tanh(h)                               # colorize: luma and (Cb, Cr), all in [-1, 1]
    cb, cr = chroma[:, :1], chroma[:, 1:]
    return torch.cat([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)


class PatchD(Network):
    """PatchGAN: (B, C_in + C, S, S) -> (B, P) logits, one per overlapping patch (3 stride-2 4x4 convs, then
    two 3x3 convs: each logit sees a 54x54 patch; pix2pix's sees 70x70 at 256 px)."""

    def __init__(self, cin: int, ndf: int, leak: float):
        super().__init__()
        self.body = nn.Sequential(
            _Down(cin, ndf, leak, norm=False), _Down(ndf, 2 * ndf, leak), _Down(2 * ndf, 4 * ndf, leak),
            nn.Conv2d(4 * ndf, 4 * ndf, 3, 1, 1), _norm(4 * ndf), nn.LeakyReLU(leak),
            nn.Conv2d(4 * ndf, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)                          # (B, S/8 * S/8)


def _sizes(s: int) -> bool:
    return s >= 16 and s & (s - 1) == 0


@MODELS.register("pix2pix", info=ModelInfo(
    data="image", sizes=_sizes, sizes_text="a power of two >= 16", translates=True,
    keys=("model.task", "model.g_channels", "model.d_channels", "model.leak", "loss.l1")))
def pix2pix(cfg: ModelConfig, shape: Tuple[int, ...]) -> Tuple[nn.Module, nn.Module]:
    """The U-Net G and PatchGAN D for model.task on images of ``shape`` (C, S, S)."""
    if cfg.task not in TASKS:
        raise GankitError(f"model.name=pix2pix needs model.task: one of {', '.join(TASKS)}; got {cfg.task!r}")
    c, s = shape[0], shape[-1]
    if not _sizes(s) or shape[-2] != s:
        raise GankitError(f"model.name=pix2pix builds square images of a power of two >= 16 px, got {shape[-2]}x{s}")
    G = UNetG(cfg.task, c, s, cfg.g_channels, cfg.leak)
    D = PatchD(input_channels(cfg.task, c) + c, cfg.d_channels, cfg.leak)
    return G, D
