"""The loss as an object with phases: what D and G are judged on, in one place.

After stylegan2-ada's ``StyleGAN2Loss.accumulate_gradients(phase, ...)``: the loss owns D's targets and the
label tricks (one-sided smoothing, label noise, label flips), what D sees (DiffAugment, instance noise, the
real+fake concatenation into one forward, the image pyramid of a multi-scale D), the regularisers (R1 and the
WGAN gradient penalty, lazily every ``loss.reg_every`` D steps), skip-D, and the weighting of each rank's share
under torchrun. The Trainer only orders the phases and steps the optimizers.

Phases:

* ``Dmain`` — D's adversarial loss on a real batch and a fake batch (G under no_grad);
* ``Dboth`` — the same plus the regularisers, on the D steps where the lazy interval falls;
* ``Gmain`` — G's adversarial loss through a frozen D.

``compute`` returns the loss to back-propagate (None when skip-D holds D's update back) and the statistics
to log. A D that takes something other than one image tensor (a list of scales, say) changes only
``d_view`` here.

Example:
    >>> loss = GANLoss(cfg, G, D, device=torch.device("cpu"))
    >>> total, stats = loss.compute(loss.d_phase(d_updates=0), real=x, z=z, n_global=len(x))
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple, Union, cast

import torch
from torch import nn

from ..config import RunConfig
from ..models.layers import batch_dependent
from ..models.pyramid import is_multiscale, pyramid
from ..models.traits import Pyramidal
from . import distributed
from .augment import AdaptiveAugment, diff_augment
from .live import LiveOptions
from .losses import LOSSES, gradient_penalty, r1_penalty

Tensor = torch.Tensor
Images = Union[Tensor, List[Tensor]]   # one batch, or a multi-scale D's list of scales (coarse -> fine)
PHASES = ("Dmain", "Dboth", "Gmain")


def _float(x: Images) -> Images:
    return [v.float() for v in x] if isinstance(x, list) else x.float()


def _no_rng(salt: str) -> ContextManager[None]:
    return contextlib.nullcontext()


def _with_labels(net: nn.Module, y: Optional[Tensor]) -> Callable[..., Any]:
    """net itself, or (a class-conditional run) net with the batch's labels: x -> net(x, y)."""
    return net if y is None else (lambda x: net(x, y))


class GANLoss:
    """Builds each phase's loss from the config; holds skip-D's memory of D's last loss (checkpointed)."""

    def __init__(self, cfg: RunConfig, G: nn.Module, D: nn.Module, *, device: torch.device,
                 G_train: Optional[nn.Module] = None, D_train: Optional[nn.Module] = None,
                 dist: distributed.Dist = distributed.SINGLE,
                 autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext):
        self.cfg = cfg                         # the resolved config (never changed while training)
        self.live = LiveOptions.from_config(cfg)   # what hooks may change while it trains (set_option)
        self.G, self.D = G, D
        self.G_train, self.D_train = G_train or G, D_train or D   # DDP wrappers where gradients are wanted
        self.device, self.dist, self.autocast = device, dist, autocast
        self.fn = LOSSES.get(cfg.loss.name)
        self.concat = not batch_dependent(D)  # one D forward over real+fake when no BatchNorm in D
        self.multiscale = is_multiscale(D)    # D takes a list of scales (G makes one)
        self.last_d_loss = float("inf")
        self._y: Tuple[Optional[Tensor], Optional[Tensor]] = (None, None)   # this phase's labels (conditional)
        self.ada: Optional[AdaptiveAugment] = None   # augmentation with a probability steered by D's outputs
        self._ada_state: Optional[Dict[str, Any]] = None   # a checkpoint's ADA state, until ADA is made
        self._follow_ada()

    def set_option(self, key: str, value: Any) -> None:
        """Change a live option (``LiveOptions``: range-checked) for the steps that follow."""
        self.live.set(key, value)
        if key in ("train.augment", "train.ada_target"):
            self._follow_ada()

    def _follow_ada(self) -> None:
        """ADA as the live options have it: made when ``train.ada_target`` turns positive (at the start, or when
        a hook switches it on mid-run), dropped when it returns to 0, following changes of the target and the
        policy. p starts at 0 (StyleGAN2-ADA's start, and what a resume with a new ``train.ada_target`` gives), so
        switched on over DiffAugment it first takes the augmentation away and adds it back while D is
        over-confident on the real images; a resumed run continues with the p its checkpoint holds."""
        t, live = self.cfg.train, self.live
        if live.ada_target <= 0:
            self.ada = None
        elif self.ada is None:
            self.ada = AdaptiveAugment(live.augment, live.ada_target, t.ada_kimg, t.ada_interval, t.batch_size)
            if self._ada_state is not None:      # resumed: the p (and signs) the checkpoint holds, once
                self.ada.load_state_dict(self._ada_state)
                self._ada_state = None
        elif self.ada.policy != live.augment or self.ada.target != live.ada_target:
            self.ada.set_policy(live.augment, live.ada_target)

    # ---- what D is trained on ----------------------------------------------------------------------------
    def targets(self, n: int, real: bool) -> Optional[Tensor]:
        """D's targets with the lessons' label smoothing, label noise and label flipping (BCE family)."""
        lc = self.live
        base = lc.real_label if real else 0.0
        if not self.fn.uses_targets or (base in (0.0, 1.0) and not lc.label_noise and not lc.label_flip):
            return None
        t = torch.full((n,), base, device=self.device)
        if lc.label_noise:
            u = torch.rand(n, device=self.device) * lc.label_noise
            t = t - u if real else t + u
        if lc.label_flip:
            t = torch.where(torch.rand(n, device=self.device) < lc.label_flip, 1.0 - t, t)
        return t

    def _shard_targets(self, n: int, real: bool) -> Optional[Tensor]:
        t = self.targets(n, real)  # drawn for the global batch (a shared stream), then this rank's rows
        return None if t is None else distributed.shard(t, self.dist)

    def d_inputs(self, x: Images) -> Images:
        """What D sees: DiffAugment and instance noise apply to real and fake alike (to each scale of a
        pyramid with its own draw: real and fake scales are still augmented by one distribution)."""
        if isinstance(x, list):
            return [self.d_inputs(level) for level in x]
        if self.ada is not None:
            x = self.ada(x)
        elif self.live.augment:
            x = diff_augment(x, self.live.augment)
        if self.live.instance_noise > 0:
            x = x + self.live.instance_noise * torch.randn_like(x)
        return x

    def d_view(self, x: Tensor) -> Images:
        """A real batch in the form D takes (the one place a new kind of D input is made): the image pyramid
        of a multi-scale D (MSG-GAN: 2x2 average pooling per level, coarse -> fine), else the batch itself.
        A growing D (progressive growing) shows the pyramid as G makes it at the schedule position: the
        image at its level faded with the upsampled one below, finer entries upsampled from it (models/msg.py)."""
        if not self.multiscale:
            return x
        D = cast(Pyramidal, self.D)   # traits.multiscale: D provides levels, reads, grow (models/traits.py)
        return D.grow(pyramid(x, D.levels))

    def d_reads(self, x: Images) -> Images:
        """The scales D reads: a growing D ignores those above its level, so they are neither augmented nor
        part of R1 / the gradient penalty (D's gradient there is zero); everything otherwise."""
        if not (self.multiscale and isinstance(x, list)):
            return x
        n = cast(Pyramidal, self.D).reads
        return x[:n] if n < len(x) else x

    def d_logits(self, real: Images, fake: Images, y_real: Optional[Tensor] = None,
                 y_fake: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """(B,) logits for real and fake, in one forward over both when D has no batch statistics (a
        class-conditional D also takes each batch's labels)."""
        D_real, D_fake = _with_labels(self.D_train, y_real), _with_labels(self.D_train, y_fake)
        D_both = self.D_train if y_real is None else (lambda x: self.D_train(x, torch.cat([y_real, y_fake])))
        if self.concat and isinstance(real, list):  # a pyramid: real and fake side by side at every scale
            both = [torch.cat([r.to(f.dtype), f]) for r, f in zip(real, fake)]
            logit_real, logit_fake = D_both(both).float().chunk(2)
        elif self.concat:  # cat in G's dtype (bf16 under autocast): D's first layer takes it uncast
            logit_real, logit_fake = D_both(torch.cat([real.to(fake.dtype), fake])).float().chunk(2)
        else:
            logit_real, logit_fake = D_real(real).float(), D_fake(fake).float()
        return logit_real, logit_fake

    def d_phase(self, d_updates: int) -> str:
        """Dboth on the D steps where the lazy regularisation interval falls, else Dmain."""
        lc = self.cfg.loss
        return "Dboth" if (lc.r1 > 0 or lc.gp > 0) and d_updates % max(1, lc.reg_every) == 0 else "Dmain"

    # ---- phases -----------------------------------------------------------------------------------------
    def compute(self, phase: str, z: Tensor, n_global: int, real: Optional[Tensor] = None,
                rng: Callable[[str], ContextManager[None]] = _no_rng, k: int = 0,
                y_real: Optional[Tensor] = None, y_fake: Optional[Tensor] = None
                ) -> Tuple[Optional[Tensor], Dict[str, Tensor]]:
        """The loss of one phase for this rank's rows (weighted for its share of the global batch of
        ``n_global``) and its statistics; the loss is None when skip-D holds D back.

        ``rng(salt)`` is the per-rank random stream for dropout and augmentation (torchrun); ``k`` numbers the
        D steps of one G step. A class-conditional run gives the real batch's labels ``y_real`` and the labels
        asked of G ``y_fake`` (G draws G(z, y_fake), D judges each image with its label).
        """
        self._y = (y_real, y_fake)
        if phase == "Gmain":
            return self._g_main(z, n_global, rng)
        if phase in ("Dmain", "Dboth"):
            assert real is not None, "a D phase needs a real batch"
            return self._d(real, z, n_global, rng, k, regularise=phase == "Dboth")
        raise ValueError(f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")

    def _d(self, real: Tensor, z: Tensor, n: int, rng, k: int, regularise: bool):
        """D's loss on this rank's ``real`` rows and as many fakes."""
        b = real.shape[0]  # this rank's rows; n is the global batch
        with rng(f"d{k}"):
            with torch.no_grad(), self.autocast():
                fake = _with_labels(self.G, self._y[1])(z)  # no graph: the D step must not update G
            with self.autocast():
                x_real = self.d_inputs(self.d_reads(self.d_view(real)))
                x_fake = self.d_inputs(self.d_reads(fake))
                logit_real, logit_fake = self.d_logits(x_real, x_fake, *self._y)  # (B,) each (B / pack with PacGAN)
        with self.autocast():
            rows = len(logit_real) * n // b  # D outputs for the global batch: targets are drawn for it, then sharded
            loss = self.fn.d(logit_real, logit_fake, self._shard_targets(rows, True), self._shard_targets(rows, False))
        total = self._regularised(loss, x_real, x_fake, rng, k) if regularise else loss
        stats: Dict[str, Tensor] = {}
        if self.ada is not None:
            self.ada.observe(logit_real, reduce=self._sum_over_ranks)
            stats["ada_p"] = torch.tensor(self.ada.p)
        skip = self.live.d_skip_below
        if skip > 0:
            self.last_d_loss = distributed.mean_scalar(loss, self.dist)  # every rank decides alike
        if skip > 0 and self.last_d_loss < skip:
            out, stats["d_skipped"] = None, torch.tensor(1.0)
        else:
            out = self._weighted(total, b, n)
        stats.update(loss_d=loss.detach(), d_real=torch.sigmoid(logit_real.detach()).mean(),
                     d_fake=torch.sigmoid(logit_fake.detach()).mean())
        return out, stats

    def _regularised(self, total: Tensor, x_real: Images, x_fake: Images, rng, k: int) -> Tensor:
        """D's loss plus R1 (gamma/2 E||grad D(x)||^2 on real) and WGAN-GP, each scaled by the lazy interval."""
        lc = self.cfg.loss
        with rng(f"p{k}"):
            D = _with_labels(self.D, self._y[0])  # a conditional D: at the real images' labels
            if lc.r1 > 0:
                total = total + 0.5 * lc.r1 * lc.reg_every * r1_penalty(D, _float(x_real))
            if lc.gp > 0:
                total = total + lc.gp * lc.reg_every * gradient_penalty(D, _float(x_real), _float(x_fake))
        return total

    def _g_main(self, z: Tensor, n: int, rng):
        with rng("g"), self.autocast():
            y = self._y[1]
            logit_fake = _with_labels(self.D, y)(self.d_inputs(self.d_reads(_with_labels(self.G_train, y)(z)))).float()
            loss = self.fn.g(logit_fake)
        return self._weighted(loss, len(z), n), {"loss_g": loss.detach()}

    def _sum_over_ranks(self, signs: float, count: int) -> Tuple[float, float]:
        m = distributed.all_mean({"signs": signs, "count": float(count)}, self.dist)  # means: same ratio
        return m["signs"], m["count"]

    def _weighted(self, loss: Tensor, n_local: int, n_global: int) -> Tensor:
        w = distributed.loss_weight(n_local, n_global, self.dist)
        return loss if w == 1.0 else loss * w

    # ---- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """skip-D's memory and the adaptive augmentation's p (saved in every checkpoint; the live options are the
        Trainer's to save, beside the config they started from)."""
        return {"last_d_loss": self.last_d_loss, "ada": self.ada.state_dict() if self.ada is not None else None}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.last_d_loss = float(state.get("last_d_loss", float("inf")))
        self.ada, self._ada_state = None, state.get("ada") or None   # made again from it as the options say
        self._follow_ada()
