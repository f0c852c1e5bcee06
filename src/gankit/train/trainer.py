"""The training loop: D steps and G steps composed from a loss, regularisers and options; side effects in hooks.

Example:
    >>> from gankit.config import load_config, apply_overrides
    >>> cfg = apply_overrides(load_config("ring-2d"), ["train.steps=100"])
    >>> Trainer(cfg, "runs/ring").fit()
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn
from tqdm import tqdm

from . import checkpoint as ckpt
from . import distributed
from ..config import RunConfig
from ..data import ImageData, load_data
from .ema import EMA
from ..device import pick_device
from ..errors import GankitError
from .fastpath import speed_up
from .hooks import Hook
from .losses import LOSSES, gradient_penalty, r1_penalty
from ..models import build_models
from ..models.layers import batch_dependent
from .optim import make_optimizer, make_scheduler
from .sampling import SamplerMixin


class Interrupted(Exception):
    """Training stopped on Ctrl-C/SIGTERM after saving a checkpoint."""


class Trainer(SamplerMixin):
    def __init__(self, cfg: RunConfig, run_dir: str | Path, data: Any = None, hooks: Optional[List[Hook]] = None,
                 verbose: bool = True, dist: Optional[distributed.Dist] = None):
        self.dist = dist or distributed.current()  # rank and world size under torchrun (distributed.py)
        self.cfg, self.run_dir, self.verbose = cfg, Path(run_dir), verbose and self.dist.is_main
        self.config_dict = cfg.to_dict()  # what the run was started with (remedies change self.cfg live)
        t = cfg.train
        self.device = distributed.device_for(self.dist, pick_device(t.device))
        if t.precision not in ("fp32", "bf16", "fp16"):
            raise GankitError(f"train.precision must be fp32, bf16 or fp16, got {t.precision!r}")
        if t.precision == "fp16" and self.device.type != "cuda":
            raise GankitError("train.precision=fp16 needs a CUDA GPU; on the CPU use bf16")
        torch.manual_seed(t.seed)
        self.data_gen = torch.Generator().manual_seed(t.seed)
        with distributed.main_first(self.dist):  # rank 0 fills the data cache first
            self.data = data if data is not None else load_data(cfg.data, self.verbose)
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        elif not isinstance(self.data, ImageData) and self.device.type == "cpu":
            torch.set_num_threads(1)  # toy nets: tiny matrices lose more to thread hand-offs than they gain
        self.data_shape = tuple(self.data.shape)
        self.G, self.D = (distributed.sync_batchnorm(m, self.dist, self.device).to(self.device)
                          for m in build_models(cfg.model, self.data_shape))
        self.memory_format = speed_up(self.G, self.D, t.precision, self.device)  # bf16 CPU: see fastpath.py
        # DDP wrappers, called only where that net's gradients are wanted (the nets themselves with one process)
        self.G_train, self.D_train = (distributed.wrap(m, self.dist, self.device) for m in (self.G, self.D))
        self.unit, self._n_global = max(1, cfg.model.pack), t.batch_size  # shards keep PacGAN packs whole
        distributed.check_batch(t.batch_size, len(self.data) if isinstance(self.data, ImageData) else 0,
                                self.dist, self.unit)
        self.loss = LOSSES.get(cfg.loss.name)
        self.opt_g = make_optimizer(self.G.parameters(), t, t.lr_g)
        self.opt_d = make_optimizer(self.D.parameters(), t, t.lr_d)
        self.sched_g, self.sched_d = make_scheduler(self.opt_g, t), make_scheduler(self.opt_d, t)
        self.scaler = torch.amp.GradScaler("cuda", enabled=t.precision == "fp16")
        self.ema = EMA(self.G, t.ema, t.batch_size, t.ema_warmup) if t.ema > 0 else None
        self.concat = not batch_dependent(self.D)  # one D forward over real+fake when no BatchNorm in D
        self.step, self.d_updates, self.pos = 0, 0, 0
        self.perm: Optional[torch.Tensor] = None
        self.hooks: List[Hook] = [h for h in hooks or [] if self.dist.is_main or getattr(h, "all_ranks", False)]
        batches = math.ceil(len(self.data) / t.batch_size)
        self.steps_per_epoch = max(1, batches // max(1, t.d_steps))
        self.total_steps = t.steps if t.steps > 0 else t.epochs * self.steps_per_epoch
        self.fixed_z = self.noise(cfg.sample.n, torch.Generator(self.device).manual_seed(t.seed + 1))
        self.stop_requested = False
        self.last_d_loss = float("inf")
        self._acc: Dict[str, List[torch.Tensor]] = {}
        self._t0 = time.time()

    # ---- pieces -------------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def next_real(self) -> torch.Tensor:
        """The next real batch: a shuffled pass over in-memory images, or fresh toy samples."""
        b = self.cfg.train.batch_size
        if not isinstance(self.data, ImageData):
            x = self.data.sample(b, self.data_gen)
            self._n_global = len(x)
            return distributed.shard(x, self.dist, self.unit).to(self.device)
        n = len(self.data)
        if self.perm is None or self.pos >= n:
            self.perm, self.pos = torch.randperm(n, generator=self.data_gen), 0
        idx = self.perm[self.pos:self.pos + b]
        self.pos += b
        self._n_global, idx = len(idx), distributed.shard(idx, self.dist, self.unit)  # this rank's rows
        return self.data.batch(idx).to(self.device, non_blocking=True, memory_format=self.memory_format)

    def targets(self, n: int, real: bool) -> Optional[torch.Tensor]:
        """D's targets with the lessons' label smoothing, label noise and label flipping (BCE family)."""
        lc = self.cfg.loss
        base = lc.real_label if real else 0.0
        if not self.loss.uses_targets or (base in (0.0, 1.0) and not lc.label_noise and not lc.label_flip):
            return None
        t = torch.full((n,), base, device=self.device)
        if lc.label_noise:
            u = torch.rand(n, device=self.device) * lc.label_noise
            t = t - u if real else t + u
        if lc.label_flip:
            t = torch.where(torch.rand(n, device=self.device) < lc.label_flip, 1.0 - t, t)
        return t

    def d_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees: DiffAugment and instance noise apply to real and fake alike."""
        if self.cfg.train.augment:
            from .augment import diff_augment
            x = diff_augment(x, self.cfg.train.augment)
        if self.cfg.loss.instance_noise > 0:
            x = x + self.cfg.loss.instance_noise * torch.randn_like(x)
        return x

    # ---- several processes (distributed.py); each is the identity with one ---------------------------------
    def batch_noise(self, n: int) -> torch.Tensor:
        """This rank's rows of a global noise batch (every rank draws all n: the stream stays shared)."""
        return distributed.shard(self.noise(n), self.dist, self.unit)

    def shard_targets(self, n: int, real: bool) -> Optional[torch.Tensor]:
        t = self.targets(n, real)
        return None if t is None else distributed.shard(t, self.dist)

    def net_rng(self, salt: str):
        return distributed.rank_stream(self.dist, self.cfg.train.seed, self.step, salt, self.device)

    def weighted(self, loss: torch.Tensor, n_local: int, n_global: int) -> torch.Tensor:
        w = distributed.loss_weight(n_local, n_global, self.dist)
        return loss if w == 1.0 else loss * w

    def should_stop(self) -> bool:
        """A stop asked on any rank (Ctrl-C/SIGTERM) stops all of them at the same step boundary; the ranks
        compare notes every log.every steps (a collective forces a GPU sync, so not every step)."""
        if self.dist.enabled and self.step % max(1, self.cfg.log.every):
            return False
        self.stop_requested = distributed.any_rank(self.stop_requested, self.dist)
        return self.stop_requested

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, sched, params) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.clip_value > 0:
            self.scaler.unscale_(opt)
            nn.utils.clip_grad_value_(params, self.cfg.train.clip_value)
        self.scaler.step(opt)
        self.scaler.update()
        if sched is not None:
            sched.step()

    # ---- steps --------------------------------------------------------------------------------------------
    def d_step(self, k: int = 0) -> None:
        real = self.next_real()
        b, n = real.shape[0], self._n_global  # this rank's rows, the global batch
        lc = self.cfg.loss
        z = self.batch_noise(n)
        with self.net_rng(f"d{k}"):  # several ranks: a per-rank stream for dropout/augment; one: no change
            with torch.no_grad(), self.autocast():
                fake = self.G(z)  # no graph: the D step must not update G
            with self.autocast():
                x_real, x_fake = self.d_inputs(real), self.d_inputs(fake)
                if self.concat:  # cat in G's dtype (bf16 under autocast): D's first layer takes it uncast
                    lr, lf = self.D_train(torch.cat([x_real.to(x_fake.dtype), x_fake])).float().chunk(2)  # (B,)
                else:
                    lr, lf = self.D_train(x_real).float(), self.D_train(x_fake).float()
        with self.autocast():
            rows = len(lr) * n // b  # D outputs for the global batch: targets are drawn for it, then sharded
            loss = self.loss.d(lr, lf, self.shard_targets(rows, True), self.shard_targets(rows, False))
        total = loss
        if (lc.r1 > 0 or lc.gp > 0) and self.d_updates % max(1, lc.reg_every) == 0:
            with self.net_rng(f"p{k}"):
                if lc.r1 > 0:  # gamma/2 * E||grad||^2, scaled by the lazy interval
                    total = total + 0.5 * lc.r1 * lc.reg_every * r1_penalty(self.D, x_real.float())
                if lc.gp > 0:
                    total = total + lc.gp * lc.reg_every * gradient_penalty(self.D, x_real.float(), x_fake.float())
        self.last_d_loss = (distributed.mean_scalar(loss, self.dist) if self.cfg.train.d_skip_below > 0
                            else self.last_d_loss)
        if not (self.cfg.train.d_skip_below > 0 and self.last_d_loss < self.cfg.train.d_skip_below):
            self.backward_step(self.weighted(total, b, n), self.opt_d, self.sched_d, list(self.D.parameters()))
            self.d_updates += 1
        else:
            self._record(d_skipped=torch.tensor(1.0))
        self._record(loss_d=loss.detach(), d_real=torch.sigmoid(lr.detach()).mean(),
                     d_fake=torch.sigmoid(lf.detach()).mean())

    def g_step(self) -> None:
        b = self.cfg.train.batch_size
        z = self.batch_noise(b)
        self.D.requires_grad_(False)  # frozen D: only G's weights move
        with self.net_rng("g"), self.autocast():
            lf = self.D(self.d_inputs(self.G_train(z))).float()
            loss = self.loss.g(lf)
        self.backward_step(self.weighted(loss, len(z), b), self.opt_g, self.sched_g, list(self.G.parameters()))
        self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.G, (self.step + 1) * b)
        self._record(loss_g=loss.detach())

    def train_step(self) -> None:
        for k in range(max(1, self.cfg.train.d_steps)):
            self.d_step(k)
        self.g_step()
        self.step += 1

    # ---- bookkeeping --------------------------------------------------------------------------------------
    def _record(self, **values: torch.Tensor) -> None:
        for k, v in values.items():
            self._acc.setdefault(k, []).append(v.float())

    def flush_stats(self) -> Dict[str, float]:
        """Means over the interval since the last flush (d_skipped as a share of D steps)."""
        n_d = len(self._acc.get("loss_d", [])) or 1
        stats = {k: float(torch.stack(v).sum() / n_d if k == "d_skipped" else torch.stack(v).mean())
                 for k, v in self._acc.items()}
        self._acc = {}
        stats = distributed.all_mean(stats, self.dist)  # every rank flushes at the same steps
        stats["lr_d"] = self.opt_d.param_groups[0]["lr"]
        stats["lr_g"] = self.opt_g.param_groups[0]["lr"]
        return stats

    def log_row(self, row: Dict[str, Any]) -> None:
        if not self.dist.is_main:  # only rank 0 writes files
            return
        row = {"step": self.step, "epoch": self.epoch, "time": round(time.time() - self._t0, 3), **row}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def event(self, kind: str, message: str, **info: Any) -> None:
        """A diagnosis or remedy: events.jsonl and one plain-words console line."""
        if not self.dist.is_main:
            return
        with open(self.run_dir / "events.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, "kind": kind, "message": message, **info}) + "\n")
        tqdm.write(f"[gankit] step {self.step}: {message}", file=sys.stderr)

    def set_lr(self, which: str, lr: float) -> None:
        """Change a learning rate now (a remedy), schedulers included."""
        opt, sched = (self.opt_d, self.sched_d) if which == "d" else (self.opt_g, self.sched_g)
        for g in opt.param_groups:
            g["lr"] = lr
        if sched is not None:
            sched.base_lrs = [lr * (1 + self.cfg.train.lr_decay * sched.last_epoch) for _ in sched.base_lrs]

    def sampling_model(self, ema: bool = True) -> nn.Module:
        return self.ema.model if (ema and self.ema is not None) else self.G

    # ---- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        return {
            "format": 1, "step": self.step, "d_updates": self.d_updates, "config": self.config_dict,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.ema.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict() if self.sched_g else None,
            "sched_d": self.sched_d.state_dict() if self.sched_d else None,
            "scaler": self.scaler.state_dict(), "rng": ckpt.rng_state(self.data_gen, self.device),
            "data": {"perm": self.perm, "pos": self.pos}, "last_d_loss": self.last_d_loss,
            "hooks": {type(h).__name__: h.state_dict() for h in self.hooks},
        }

    def load_state_dict(self, s: Dict[str, Any]) -> None:
        try:
            self.G.load_state_dict(s["G"])
            self.D.load_state_dict(s["D"])
            self.opt_g.load_state_dict(s["opt_g"])
            self.opt_d.load_state_dict(s["opt_d"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise GankitError(f"the checkpoint does not fit this model ({str(e).splitlines()[0][:120]}); "
                              "it was saved by another preset or config")
        if self.ema and s.get("G_ema") is not None:
            self.ema.load_state_dict(s["G_ema"])
        for sched, key in ((self.sched_g, "sched_g"), (self.sched_d, "sched_d")):
            if sched is not None and s.get(key):
                sched.load_state_dict(s[key])
        self.scaler.load_state_dict(s["scaler"])
        ckpt.set_rng_state(s["rng"], self.data_gen, self.device)
        self.step, self.d_updates = s["step"], s["d_updates"]
        self.perm, self.pos, self.last_d_loss = s["data"]["perm"], s["data"]["pos"], s["last_d_loss"]
        for h in self.hooks:
            h.load_state_dict(s["hooks"].get(type(h).__name__, {}))

    def save_checkpoint(self) -> Path:
        if not self.dist.is_main:
            return self.run_dir / "checkpoints" / ckpt.LATEST
        return ckpt.save(self.state_dict(), self.run_dir / "checkpoints", self.step, self.cfg.checkpoint.keep)

    # ---- loop ---------------------------------------------------------------------------------------------
    def fit(self) -> "Trainer":
        """Train until total_steps; Ctrl-C/SIGTERM stop at a step boundary, save, and raise Interrupted."""
        from .loop import run_loop
        run_loop(self)
        return self
