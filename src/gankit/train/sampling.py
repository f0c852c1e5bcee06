"""Noise, precision and sampling shared by the Trainer and a loaded Run."""
from __future__ import annotations

import contextlib
from typing import Optional, Tuple

import torch
from torch import nn

from ..errors import GankitError
from ..models.pyramid import finest
from ..models.traits import traits_of


class SamplerMixin:
    """Needs: self.cfg (RunConfig), self.device, self.G, self.data_shape; provides noise/autocast/generate."""

    def autocast(self):
        p = self.cfg.train.precision
        if p == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if p == "bf16" else torch.float16)

    def noise(self, n: int, generator: Optional[torch.Generator] = None, width: Optional[int] = None) -> torch.Tensor:
        """(n, latent) noise; the 1-D lesson's elementwise G takes uniform noise of the data's width."""
        if traits_of(self.G).translates:  # pix2pix: the "noise" is inputs made from real images
            from .translate import translator_inputs
            return translator_inputs(self, n, generator)
        m = self.cfg.model
        if width is None:
            width = self.data_shape[0] if traits_of(self.G).elementwise else m.latent_dim
        if m.noise == "uniform":
            return torch.rand(n, width, device=self.device, generator=generator)
        if m.noise != "normal":
            raise GankitError(f"model.noise must be normal or uniform, got {m.noise!r}")
        return torch.randn(n, width, device=self.device, generator=generator)

    def sampling_model(self, ema: bool = True) -> nn.Module:
        return self.G

    def class_rows(self, n: int) -> Optional[Tuple[torch.Tensor, int]]:
        """A class-conditional run's grid of about n images with one row per class: (labels (K * cols,), cols);
        None for a run without classes."""
        k = traits_of(self.sampling_model()).num_classes
        if not k:
            return None
        cols = max(1, n // k)
        return torch.arange(k).repeat_interleave(cols), cols

    @torch.no_grad()
    def generate(self, n: int, seed: Optional[int] = None, ema: bool = True, z: Optional[torch.Tensor] = None,
                 batch: int = 1000, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """n samples in the data's scale (float32, CPU) from G (its EMA when present), in eval mode.

        Noise comes from its own seeded generator, so sampling never shifts the training random stream.
        Shapes: images (n, C, H, W) in [-1, 1]; 2-D toy data (n, 2); the 1-D lesson (n, 1). A class-conditional
        G draws sample i of class ``labels[i]``; without labels, the classes in turn (i mod K). A G trained on
        clusters (model.clusters) reads each sample's cluster from its latent, or draws ``labels[i]`` when given.
        """
        G = self.sampling_model(ema)
        gen = torch.Generator(self.device).manual_seed(self.cfg.train.seed + 12345 if seed is None else seed)
        traits = traits_of(G)
        width = 1 if traits.elementwise else None
        classes = traits.num_classes
        if classes and labels is None:
            labels = torch.arange(n) % classes
        was_training = G.training
        G.eval()
        out = []
        try:
            for i in range(0, n, batch):
                m = min(batch, n - i)
                zi = z[i:i + m].to(self.device) if z is not None else self.noise(m, gen, width)
                # a conditional G takes its labels; a G on clusters takes them when given (else reads them from z)
                takes = classes or (traits.clusters and labels is not None)
                args = (zi, labels[i:i + m].to(self.device)) if takes else (zi,)
                with self.autocast():
                    out.append(finest(G(*args)).float().cpu())  # a multi-scale G: its full-size images
        finally:
            G.train(was_training)
        return torch.cat(out)
