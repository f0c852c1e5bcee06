"""Image-to-image training (pix2pix): the loss object for a translator, and what a translator's "noise" is.

The Trainer runs a translator like any model: it hands each D phase a real batch, and the loss makes the
input from it (``data.pairs.make_inputs``: holes, a quarter-size copy, the luminance). D judges (input, target)
against (input, G(input)), one logit per patch; G is judged by D plus ``loss.l1`` times its mean absolute
distance to the target (for inpainting, inside the hole: ``l1_distance``), on the batch its D phase drew
(pix2pix trains both on one batch).

The holes of a D phase are drawn from a generator seeded by (train.seed, the number of batches drawn so
far), and that count is part of the loss object's checkpointed state: a resumed run draws the same pairs.

Example:
    >>> loss = TranslateLoss(cfg, G, D, device=torch.device("cpu"))
    >>> total, stats = loss.compute("Dmain", z=z, n_global=len(x), real=x)
    >>> total, stats = loss.compute("Gmain", z=z, n_global=len(x))
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from ..config import RunConfig
from ..data import dataset_info
from ..data.pairs import TASKS, make_inputs
from ..errors import GankitError
from ..models import MODELS
from .gan_loss import GANLoss, Tensor, _no_rng

_SEED_STRIDE = 1_000_003   # the pairs of draw k come from seed * stride + k


def is_translator(cfg: RunConfig) -> bool:
    """Whether the config's model is an image-to-image translator (ModelInfo.translates)."""
    return cfg.model.name in MODELS and MODELS.info(cfg.model.name).translates


class TranslateLoss(GANLoss):
    """pix2pix's loss: conditional adversarial (D sees the input beside the output) + loss.l1 * L1."""

    def __init__(self, cfg: RunConfig, G, D, **kw: Any):
        super().__init__(cfg, G, D, **kw)
        self.task = cfg.model.task
        if self.task == "colorize" and getattr(G, "channels", 3) != 3:
            raise GankitError("model.task=colorize needs colour images, but the data have one channel; "
                              "set data.channels=3 or choose another task")
        self.draws = 0                                   # batches made into pairs so far (checkpointed)
        self._pair: Optional[Tuple[Tensor, Tensor]] = None   # (input, target) of the last D phase

    def pairs(self, real: Tensor) -> Tuple[Tensor, Tensor]:
        """(input, target) from a real batch; the holes come from a generator seeded by the draw count."""
        g = torch.Generator().manual_seed(self.cfg.train.seed * _SEED_STRIDE + self.draws)
        self.draws += 1
        inp = make_inputs(self.task, real.float().cpu(), g).to(real.device, real.dtype)
        return inp, real

    def compute(self, phase: str, z: Tensor, n_global: int, real: Optional[Tensor] = None, rng=_no_rng, k: int = 0,
                **labels: Any) -> Tuple[Optional[Tensor], Dict[str, Tensor]]:
        """``z`` is not used: a translator's randomness is in its inputs (class labels are not either)."""
        if phase == "Gmain":
            assert self._pair is not None, "the G phase of a translator follows a D phase"
            return self._g(*self._pair, n_global, rng)
        assert real is not None, "a D phase needs a real batch"
        self._pair = self.pairs(real)
        return self._d_pairs(*self._pair, n_global, rng, k, regularise=phase == "Dboth")

    def _d_pairs(self, inp: Tensor, real: Tensor, n: int, rng, k: int, regularise: bool):
        b = real.shape[0]
        with rng(f"d{k}"):
            with torch.no_grad(), self.autocast():
                fake = self.G(inp)                       # no graph: the D step must not update G
            with self.autocast():
                x_real = self.d_inputs(torch.cat([inp, real], 1))
                x_fake = self.d_inputs(torch.cat([inp.to(fake.dtype), fake], 1))
                lr, lf = (v.flatten() for v in self.d_logits(x_real, x_fake))   # (B * patches,) each
        with self.autocast():
            rows = len(lr) * n // b
            loss = self.fn.d(lr, lf, self._shard_targets(rows, True), self._shard_targets(rows, False))
        total = self._regularised(loss, x_real, x_fake, rng, k) if regularise else loss
        stats = {"loss_d": loss.detach(), "d_real": torch.sigmoid(lr.detach()).mean(),
                 "d_fake": torch.sigmoid(lf.detach()).mean()}
        return self._weighted(total, b, n), stats

    def _g(self, inp: Tensor, real: Tensor, n: int, rng):
        with rng("g"), self.autocast():
            fake = self.G_train(inp)
            lf = self.D(self.d_inputs(torch.cat([inp.to(fake.dtype), fake], 1))).float().flatten()
            adv = self.fn.g(lf)
            l1 = l1_distance(self.task, fake, real, inp)
            loss = adv + self.cfg.loss.l1 * l1
        self._pair = None
        return self._weighted(loss, len(inp), n), {"loss_g": adv.detach(), "l1": l1.detach()}

    def state_dict(self) -> Dict[str, Any]:
        return {**super().state_dict(), "draws": self.draws}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.draws = int(state.get("draws", 0))


def l1_distance(task: str, fake: Tensor, real: Tensor, inp: Tensor) -> Tensor:
    """The mean absolute distance of G's output to the target: over the hole for inpainting (the known pixels
    are the target's own, so a mean over the whole image would shrink with the hole and leave the adversarial
    term to rule the hole), over every pixel otherwise."""
    err = (fake.float() - real.float()).abs()
    if task != "inpaint":
        return err.mean()
    m = inp[:, -1:].float()
    return (err * m).sum() / (m.sum() * err.shape[1]).clamp(min=1.0)


def translator_inputs(owner: Any, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """A translator's "noise": n inputs made from the example images its G keeps, which the Trainer fills on
    first use from the held-out images (data.holdout), else the first training images."""
    G = owner.G
    if not bool(G.filled) and getattr(owner, "data", None) is not None:
        images = getattr(owner.data, "heldout", None)
        images = owner.data.images if images is None or not len(images) else images
        x = images[:len(G.examples)].float().div(127.5).sub(1.0)
        for net in [G] + ([owner.ema.model] if getattr(owner, "ema", None) is not None else []):
            net.set_examples(x)
    return G.draw_inputs(n, generator).to(owner.device)


def translate_problems(cfg: RunConfig) -> List[str]:
    """Settings a translator needs: a task, image data, colour images to colourise."""
    translator, task = is_translator(cfg), cfg.model.task
    if not translator:
        return [f"model.task={task} is for an image-to-image model (model.name=pix2pix); remove it"] if task else []
    problems = []
    if task not in TASKS:
        problems.append(f"model.name={cfg.model.name} needs model.task: one of {', '.join(TASKS)}")
    if task == "colorize" and cfg.data.channels == 1:
        problems.append("model.task=colorize makes colour images; data.channels=1 has none (unset it or set 3)")
    if cfg.train.progressive:
        problems.append(f"model.name={cfg.model.name} does not grow; set train.progressive=false")
    if cfg.data.name and dataset_info(cfg.data).kind != "image":
        problems.append(f"model.name={cfg.model.name} translates images; data.name={cfg.data.name} holds none")
    return problems
