"""MSG-GAN (Karnewar & Wang, "MSG-GAN: Multi-Scale Gradients for GANs", arXiv 1903.06048): one network family
for 8 to 256 px, the resolution taken from the data.

G: z (B, L) -> pixel norm -> 4x4 block (4x4 transposed conv from the latent, 3x3 conv) -> per resolution
[nearest x2 upsample, two 3x3 convs]; LeakyReLU 0.2 and pixelwise feature norm after every conv. Every block
also emits an image through a 1x1 toRGB and tanh, so G returns a list coarse -> fine:
``[(B, C, 4, 4), (B, C, 8, 8), ..., (B, C, R, R)]``.

D reads the list the other way: a 1x1 fromRGB of the full-size image, then per block two 3x3 convs and 2x2
average pooling; at each coarser scale that scale's image goes through its own 1x1 fromRGB and is concatenated
with the activations (the paper's "lin_cat" combine function, as in its reference code, rather than
concatenating the raw RGB). Minibatch standard deviation before the last block; the last block is a 3x3 conv,
a 4x4 conv to 1x1 and a 1x1 conv to the logit (B,). Real images become the matching list by average pooling
(``pyramid.py``), so the gradient reaches every scale of G at once.

Widths (channels) at size r: ``min(cap, max(8, base * 32 / r))``, with base = model.g_channels (G) or
model.d_channels (D) being the width at 32x32 and cap = model.max_channels. With the defaults (64, 256):

    r    4    8    16   32   64   128  256
    w    256  256  128  64   32   16   8

Width halves where size doubles, so each block beyond the cap costs about the same and going from 64 to 128 px
adds one block, not 4x the work. Multiply-adds per image, one forward (torch's flop counter, latent 128):

    g_channels = d_channels    32 px          64 px          128 px
    64 (default)               G 312M D 218M  G 426M D 294M  G 540M D 370M
    32                         G  95M D  67M  G 124M D  86M  G 152M D 105M
    16                         G  24M D  17M  G  31M D  22M  G  50M D  36M

(gankit's dcgan at 64 px: G 105M, D 104M.) Equalised learning rate (model.eq_lr, ProGAN
section 4.1): weights are stored N(0, 1) and multiplied by sqrt(2 / fan_in) at run time (gain 1 for the toRGB
and logit layers, which no LeakyReLU follows); without it the same draw is scaled once at initialisation, so
both start as the same function and differ only in how the optimiser's steps scale.

Progressive growing (ProGAN, Karras et al. 2018; the schedule is ``train/progressive.py``) runs on the same
networks: ``set_lod(level, alpha)`` on G and D says which level is the finest one trained (``top``: 0 = 4x4,
levels - 1 = full size) and how far it has faded in (``alpha`` in [0, 1]). No parameter is added, so the weights
of a growing run load into the full network and back.

* G computes the blocks up to ``top`` only. Its image at ``top`` is ``alpha * toRGB(new block) + (1 - alpha) *
  upsample(image at top - 1)`` (both after tanh, so in [-1, 1]); the coarser images are as usual; every finer
  entry is the ``top`` image upsampled (nearest) to that size, so the list keeps its length and ``finest`` of it
  is what sampling gives: the current image at full size.
* Real batches become the same list (``grow`` on the pooled pyramid): the pooled image at ``top`` faded with
  the upsampled one below it, finer entries upsampled, so D treats real and fake alike.
* D reads the images up to ``top`` (``reads`` of them; a longer list's finer entries are ignored). The
  channels a finer block would feed at ``top`` are zeros, so its 1x1 fromRGB supplies half of the input there;
  during a fade the new level's path (its fromRGB and the block below it) enters multiplied by alpha, in place of
  those zeros. At alpha = 0 both networks are exactly the ones of the level before; at the last level with
  alpha = 1 they are the full networks, operation for operation.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GankitError
from .pyramid import levels_for, pyramid
from .registry import MODELS, ModelInfo
from .traits import BatchDependent, ModelTraits, Network

SQRT2 = math.sqrt(2.0)


def widths(base: int, resolution: int, cap: int, floor: int = 8) -> List[int]:
    """Channels per level, coarse -> fine (4x4 .. R x R): base at 32x32, x2 per halving of size, within
    [floor, cap] (floor = model.min_channels: the narrowest, finest layers)."""
    if base < 1 or cap < 8 or not 1 <= floor <= cap:
        raise GankitError(f"msg needs model.g_channels/d_channels >= 1, model.max_channels >= 8 and "
                          f"model.min_channels from 1 to max_channels (got base {base}, cap {cap}, floor {floor})")
    return [min(cap, max(floor, base * 32 // (4 << i))) for i in range(levels_for(resolution))]


def _init(layer: nn.Module, fan_in: int, gain: float, eq_lr: bool) -> None:
    """He init from one N(0, 1) draw: scaled now (plain) or on every forward (equalised learning rate)."""
    layer.eq_lr, layer.wscale = eq_lr, gain / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.normal_()
        if not eq_lr:
            layer.weight.mul_(layer.wscale)
        layer.bias.zero_()


class Conv(nn.Conv2d):
    """A k x k conv (stride 1) with MSG-GAN's initialisation and optional equalised learning rate."""

    def __init__(self, cin: int, cout: int, k: int, eq_lr: bool, gain: float = SQRT2, padding: int = 0):
        super().__init__(cin, cout, k, padding=padding)
        _init(self, cin * k * k, gain, eq_lr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.wscale if self.eq_lr else self.weight
        return self._conv_forward(x, w, self.bias)


class LatentTo4x4(nn.ConvTranspose2d):
    """The 4x4 transposed conv from the latent, (B, L, 1, 1) -> (B, C, 4, 4); each output sums L inputs."""

    def __init__(self, latent: int, cout: int, eq_lr: bool):
        super().__init__(latent, cout, 4)
        _init(self, latent, SQRT2, eq_lr)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.wscale if self.eq_lr else self.weight
        return F.conv_transpose2d(z, w, self.bias)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit mean square (ProGAN section 4.2): (B, C, ...) -> same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class MinibatchStd(BatchDependent):
    """ProGAN's minibatch stddev: within groups of 4, the std of every feature and pixel, averaged to one number
    per group, appended as a constant map: (B, C, H, W) -> (B, C+1, H, W)."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = min(self.group, b)
        while b % g:  # the largest group size <= self.group that divides the batch
            g -= 1
        y = x.float().reshape(g, b // g, *x.shape[1:])                   # (G, B/G, C, H, W)
        std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (B/G,)
        std = std.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w)         # (B, 1, H, W), sample i in group i % (B/G)
        return torch.cat([x, std.to(x.dtype)], 1)


def up2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling, (B, C, r, r) -> (B, C, 2r, 2r)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def grow_list(images: Sequence[torch.Tensor], levels: int, top: int, alpha: float) -> List[torch.Tensor]:
    """images[0 .. top] coarse -> fine (more may follow; they are dropped) -> ``levels`` images: the one at ``top``
    faded in (``alpha * images[top] + (1 - alpha) * up2(images[top - 1])``), every finer one the previous one
    upsampled. Example: 3 images of 4, 8, 16 px, levels 5, top 2 -> sizes 4, 8, 16, 32, 64 (the last two blocky)."""
    out = list(images[:top + 1])
    if alpha < 1.0:
        out[top] = torch.lerp(up2(out[top - 1]), out[top], alpha)   # (B, C, r, r), r = 4 << top
    for _ in range(top + 1, levels):
        out.append(up2(out[-1]))                                      # (B, C, 2r, 2r)
    return out


class Growing:
    """The progressive-growing position of a multi-scale network (the module docstring says what it changes).
    ``top`` is the finest level trained, ``alpha`` its fade-in weight; (levels - 1, 1.0) is the full network."""
    levels: int
    top: int
    alpha: float

    def set_lod(self, level: Optional[int] = None, alpha: float = 1.0) -> None:
        """Train and draw up to ``level`` (0 = 4x4, 1 = 8x8, ...; None = the full network), faded in by ``alpha``.

        Example: ``G.set_lod(2, 0.25)`` -> 16x16 is a quarter faded in over the upsampled 8x8 image."""
        level = self.levels - 1 if level is None else level
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < self.levels:
            raise GankitError(f"set_lod: level must be an integer from 0 (4x4) to {self.levels - 1} "
                              f"({self.resolution}x{self.resolution}), got {level!r}")
        if not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0 or (level == 0 and alpha < 1.0):
            raise GankitError(f"set_lod: alpha must be a number in [0, 1] (1 at level 0, which has nothing to "
                              f"fade from), got {alpha!r} at level {level}")
        self.top, self.alpha = level, float(alpha)

    @property
    def lod(self) -> Tuple[int, float]:
        """(top, alpha): the position ``set_lod`` set."""
        return self.top, self.alpha

    @property
    def reads(self) -> int:
        """How many images of the list (coarse -> fine) the network makes or reads at this position."""
        return self.top + 1

    @property
    def growing(self) -> bool:
        return self.top < self.levels - 1 or self.alpha < 1.0

    def grow(self, images: List[torch.Tensor]) -> List[torch.Tensor]:
        """A full pyramid (or its first ``reads`` images) as this position shows it (``grow_list``); the list
        itself when the network is full."""
        return grow_list(images, self.levels, self.top, self.alpha) if self.growing else images


class MSGGenerator(Growing, Network):
    """z (B, L) -> [(B, C, 4, 4), ..., (B, C, R, R)] in [-1, 1]; ``finest(G(z))`` is the image.

    Truncation: the pixel norm makes G blind to the scale of z, so pulling z toward 0 changes nothing; instead
    ``set_truncation(mean, psi)`` pulls the 4x4 block's features toward ``mean`` (their average over many z,
    from ``start_features``): ``h' = mean + psi (h - mean)``, as StyleGAN pulls w toward its mean."""
    traits = ModelTraits(multiscale=True, feature_truncation=True)

    def __init__(self, latent: int, out_ch: int, resolution: int, base: int, cap: int, eq_lr: bool = False,
                 leak: float = 0.2, floor: int = 8, upsample: str = "nearest"):
        super().__init__()
        self.levels, self.resolution = levels_for(resolution), resolution
        self.top, self.alpha = self.levels - 1, 1.0   # progressive growing's position: the full network
        w = widths(base, resolution, cap, floor)
        # nearest copies each pixel into a 2x2 block, which thin fine layers carry into the image as a grid;
        # bilinear interpolates between neighbours (anti-aliased up-sampling, as in StyleGAN2's blur)
        mode = {"nearest": {"mode": "nearest"}, "bilinear": {"mode": "bilinear", "align_corners": False}}[upsample]

        def conv_act(cin: int, cout: int) -> List[nn.Module]:  # 3x3 conv, LeakyReLU, pixel norm
            return [Conv(cin, cout, 3, eq_lr, padding=1), nn.LeakyReLU(leak, True), PixelNorm()]

        first = nn.Sequential(PixelNorm(), nn.Unflatten(1, (latent, 1, 1)),      # (B, L, 1, 1)
                              LatentTo4x4(latent, w[0], eq_lr), nn.LeakyReLU(leak, True), PixelNorm(),
                              *conv_act(w[0], w[0]))                               # (B, w0, 4, 4)
        ups = [nn.Sequential(nn.Upsample(scale_factor=2, **mode), *conv_act(a, b), *conv_act(b, b))
               for a, b in zip(w[:-1], w[1:])]                                     # (B, a, r, r) -> (B, b, 2r, 2r)
        self.blocks = nn.ModuleList([first, *ups])
        self.to_rgb = nn.ModuleList(Conv(c, out_ch, 1, eq_lr, gain=1.0) for c in w)
        self.truncation: Optional[Tuple[torch.Tensor, float]] = None   # (mean 4x4 features, psi); None = off

    def start_features(self, z: torch.Tensor) -> torch.Tensor:
        """The 4x4 block's output for z: (B, w0, 4, 4)."""
        return self.blocks[0](z)

    def set_truncation(self, mean: Optional[torch.Tensor], psi: float = 1.0) -> None:
        """Pull the 4x4 features toward ``mean`` (1, w0, 4, 4) by psi in (0, 1] from now on; None turns it off."""
        self.truncation = None if mean is None else (mean.detach(), float(psi))

    def forward(self, z: torch.Tensor) -> List[torch.Tensor]:
        x, out = z, []
        for i in range(self.top + 1):               # growing: nothing above the level being trained
            x = self.blocks[i](x)                   # (B, w_r, r, r), r = 4, 8, ..., R
            if i == 0 and self.truncation is not None:
                mean, psi = self.truncation
                x = mean.to(x) + psi * (x - mean.to(x))
            out.append(torch.tanh(self.to_rgb[i](x)))  # (B, C, r, r)
        return self.grow(out)                       # the full network: out itself


class MSGDiscriminator(Growing, Network):
    """[(B, C, 4, 4), ..., (B, C, R, R)] -> logits (B,). A tensor (B, C, R, R) is pooled into the pyramid first
    (real images; fakes should come as G's list, so that every scale of G gets a gradient). While growing, the
    first ``reads`` images are enough."""
    traits = ModelTraits(multiscale=True, mbstd_builtin=True)   # model.mbstd is already part of the architecture

    def __init__(self, in_ch: int, resolution: int, base: int, cap: int, eq_lr: bool = False, leak: float = 0.2,
                 floor: int = 8):
        super().__init__()
        self.levels, self.resolution = levels_for(resolution), resolution
        self.top, self.alpha = self.levels - 1, 1.0   # progressive growing's position: the full network
        w = widths(base, resolution, cap, floor)
        self.width = w
        rgb = [c // 2 for c in w[:-1]] + [w[-1]]  # fromRGB channels per level; the full-size one gives them all
        self.from_rgb = nn.ModuleList(Conv(in_ch, c, 1, eq_lr) for c in rgb)
        self.act = nn.LeakyReLU(leak)
        # blocks[i] takes level i+1 (B, w[i+1], 2r, 2r) to level i (B, w[i] - rgb[i], r, r)
        self.blocks = nn.ModuleList(
            nn.Sequential(Conv(w[i + 1], w[i + 1], 3, eq_lr, padding=1), nn.LeakyReLU(leak, True),
                          Conv(w[i + 1], w[i] - rgb[i], 3, eq_lr, padding=1), nn.LeakyReLU(leak, True),
                          nn.AvgPool2d(2))
            for i in range(self.levels - 1))
        self.final = nn.Sequential(MinibatchStd(), Conv(w[0] + 1, w[0], 3, eq_lr, padding=1),
                                   nn.LeakyReLU(leak, True),                       # (B, w0, 4, 4)
                                   Conv(w[0], w[0], 4, eq_lr), nn.LeakyReLU(leak, True),  # (B, w0, 1, 1)
                                   Conv(w[0], 1, 1, eq_lr, gain=1.0))              # (B, 1, 1, 1)

    def pyramid_of(self, images: Union[torch.Tensor, Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """The input as a list coarse -> fine, checked against this D's sizes."""
        xs = self.grow(pyramid(images, self.levels)) if torch.is_tensor(images) else list(images)
        sizes = [tuple(x.shape[-2:]) for x in xs]
        n = len(xs) if len(xs) in (self.levels, self.reads) else self.levels
        want = [(4 << i, 4 << i) for i in range(n)]
        if sizes != want:
            full = [str(4 << i) for i in range(self.levels)]
            growing = f" (or the first {self.reads} while growing)" if self.growing else ""
            raise GankitError(f"the msg discriminator takes {self.levels} images of sizes {', '.join(full)} "
                              f"(coarse to fine){growing}, got sizes {sizes}")
        return xs

    def forward(self, images: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        xs, top = self.pyramid_of(images), self.top
        if top == self.levels - 1:
            h = self.act(self.from_rgb[-1](xs[-1]))                   # (B, w_R, R, R)
        else:  # growing: no finer block feeds this level yet; zeros stand for its channels
            f = self.act(self.from_rgb[top](xs[top]))                 # (B, rgb_r, r, r)
            h = torch.cat([f.new_zeros(f.shape[0], self.width[top] - f.shape[1], *f.shape[2:]), f], 1)
        for i in reversed(range(top)):
            h = self.blocks[i](h)                                     # (B, w_r - rgb_r, r, r), r = 4 * 2^i
            if i == top - 1 and self.alpha < 1.0:
                h = h * self.alpha                                    # the new level fades in over the zeros
            h = torch.cat([h, self.act(self.from_rgb[i](xs[i]))], 1)  # (B, w_r, r, r)
        return self.final(h).reshape(-1)                              # (B,)


@MODELS.register("msg", info=ModelInfo(
    data="image", sizes=lambda r: r >= 8 and not r & (r - 1),
    sizes_text="a power of two from 8 (8, 16, 32, 64, 128, 256, ...)",
    keys=("model.latent_dim", "model.g_channels", "model.d_channels", "model.leak", "model.eq_lr",
          "model.max_channels", "model.min_channels", "model.g_upsample", "train.progressive", "train.pg_start", "train.pg_fade_kimg",
          "train.pg_stable_kimg", "train.pg_fit", "model.conditional", "model.g_cond"), grows=True))
def build_msg(cfg, shape):
    """MSG-GAN G and D for square images (C, R, R), R a power of two from 8 (32, 64, 128, 256)."""
    if len(shape) != 3 or shape[1] != shape[2]:
        raise GankitError(f"model msg needs square images (C, R, R), got data of shape {tuple(shape)}")
    c, r, _ = shape
    G = MSGGenerator(cfg.latent_dim, c, r, cfg.g_channels, cfg.max_channels, cfg.eq_lr, cfg.leak, cfg.min_channels,
                     cfg.g_upsample)
    D = MSGDiscriminator(c, r, cfg.d_channels, cfg.max_channels, cfg.eq_lr, cfg.leak, cfg.min_channels)
    return G, D
