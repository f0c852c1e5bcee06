"""The Trainer orders the steps and holds the state: the builder makes the components, the loss object
(gan_loss.py) says what each phase is judged on, hooks do the side effects.

Example:
    >>> from gankit.config import load_config, apply_overrides
    >>> cfg = apply_overrides(load_config("ring-2d"), ["train.steps=100"])
    >>> Trainer(cfg, "runs/ring").fit()
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..config import RunConfig, load_config, preset_names
from ..data import ImageData, load_data
from ..data.clusters import with_clusters
from ..device import pick_device
from ..errors import Diverged
from ..reporter import Reporter
from ..rundir import RunDir
from . import checkpoint as ckpt
from . import distributed, progressive
from .builder import Components, build
from .context import TrainingContext
from .distributed import unwrap
from .fit_check import check_state
from .hooks import Hook, check_unique
from .live import saved_live
from .loop import run_loop
from .sampling import SamplerMixin
from .validate import steps_per_epoch

_report = Reporter(__name__)


@dataclass
class Phase:
    """One entry of a training step: which loss phase updates which network, how often per G step."""
    name: str                   # "D" or "G"
    module: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    repeat: int = 1


class Trainer(SamplerMixin):
    def __init__(self, cfg: RunConfig, run_dir: str | Path, data: Any = None, hooks: Optional[Sequence[Hook]] = None,
                 verbose: bool = True, dist: Optional[distributed.Dist] = None):
        self.dist = dist or distributed.current()  # rank and world size under torchrun (distributed.py)
        self.cfg, self.run_dir, self.verbose = cfg, Path(run_dir), verbose and self.dist.is_main
        t = cfg.train
        self.device = distributed.device_for(self.dist, pick_device(t.device))
        torch.manual_seed(t.seed)
        self.data_gen = torch.Generator().manual_seed(t.seed)
        with distributed.main_first(self.dist):  # rank 0 fills the data cache first
            self.data = data if data is not None else load_data(cfg.data, self.verbose)
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        elif not isinstance(self.data, ImageData) and self.device.type == "cpu":
            torch.set_num_threads(1)  # toy nets: tiny matrices lose more to thread hand-offs than they gain
        self.data_shape = tuple(self.data.shape)
        # a class-conditional run: the class names (labels index them) and the labels of the last real batch
        self.classes: List[str] = list(self.data.class_names) if cfg.model.conditional else []
        self.real_labels: Optional[torch.Tensor] = None
        if cfg.model.clusters:  # self-conditioning: the images' k-means clusters stand in for classes
            self.data = with_clusters(self.data, cfg.model.clusters, self.verbose)
        self.parts: Components = build(cfg, self.data_shape, self.device, self.dist, self.autocast,
                                       classes=len(self.classes))
        if cfg.model.clusters:  # G draws each cluster as often as the data holds it
            counts = torch.bincount(self.data.labels, minlength=cfg.model.clusters)
            for G in [self.G] + ([self.ema.model] if self.ema is not None else []):
                unwrap(G).set_prior(counts)
        self.unit, self._n_global = max(1, cfg.model.pack), t.batch_size  # shards keep PacGAN packs whole
        distributed.check_batch(t.batch_size, len(self.data) if isinstance(self.data, ImageData) else 0,
                                self.dist, self.unit)
        p = self.parts
        self.phases = [Phase("D", p.D, p.opt_d, p.sched_d, max(1, t.d_steps)), Phase("G", p.G, p.opt_g, p.sched_g)]
        self.step, self.d_updates, self.pos = 0, 0, 0
        self.perm: Optional[torch.Tensor] = None
        self.hooks: List[Hook] = [h for h in check_unique(hooks or []) if self.dist.is_main or h.all_ranks]
        self.context = TrainingContext(self)
        self.steps_per_epoch = steps_per_epoch(len(self.data), t.batch_size, t.d_steps)
        self.total_steps = t.steps if t.steps > 0 else t.epochs * self.steps_per_epoch
        self.fixed_z = self.noise(cfg.sample.n, torch.Generator(self.device).manual_seed(t.seed + 1))
        self.pg: Optional[progressive.Position] = None  # progressive growing: the schedule position
        self.pg_lengths: Optional[Tuple[float, float]] = None  # its (fade, hold) kimg; fitted once, checkpointed
        self._grow()
        self.stop_requested = False
        self._acc: Dict[str, List[torch.Tensor]] = {}
        self._t0 = time.time()

    # ---- the components -----------------------------------------------------------------------------------
    @property
    def G(self) -> nn.Module:
        return self.parts.G

    @property
    def D(self) -> nn.Module:
        return self.parts.D

    @property
    def ema(self):
        return self.parts.ema

    @property
    def loss(self):
        return self.parts.loss

    def optimizer(self, which: str) -> torch.optim.Optimizer:
        return self.parts.opt_d if which == "d" else self.parts.opt_g

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    # ---- inputs -------------------------------------------------------------------------------------------
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
        if self.classes or self.cfg.model.clusters:
            self.real_labels = self.data.batch_labels(idx).to(self.device)
        return self.data.batch(idx).to(self.device, non_blocking=True, memory_format=self.parts.memory_format)

    def batch_noise(self, n: int) -> torch.Tensor:
        """This rank's rows of a global noise batch (every rank draws all n: the stream stays shared)."""
        return distributed.shard(self.noise(n), self.dist, self.unit)

    def net_rng(self, salt: str):
        """Several ranks: a per-rank stream for dropout and augmentation; one process: no change."""
        return distributed.rank_stream(self.dist, self.cfg.train.seed, self.step, salt, self.device)

    # ---- steps --------------------------------------------------------------------------------------------
    def train_step(self) -> None:
        """One G step: the D phase ``d_steps`` times, then the G phase."""
        self._grow()
        for phase in self.phases:
            for k in range(phase.repeat):
                self._run_phase(phase, k)
        self.step += 1
        self._grow()  # hooks, samples and the checkpoint see the position for the images seen now

    def _grow(self) -> None:
        """Progressive growing: G, its EMA and D at the schedule position for step * batch_size images."""
        if self.cfg.train.progressive:
            if self.pg_lengths is None:  # fitted to the run's length at its start; a resume keeps the saved ones
                self.pg_lengths = progressive.lengths(self.cfg, self.data_shape[-1], self.total_steps)
            self.pg = progressive.position_for(self.cfg, self.data_shape[-1], self.step * self.cfg.train.batch_size,
                                               self.pg_lengths)
            progressive.apply(self.pg, self.G, self.D, self.ema.model if self.ema is not None else None)

    def _run_phase(self, phase: Phase, k: int) -> None:
        if phase.name == "D":
            real = self.next_real()
            n = self._n_global                      # the global batch; real holds this rank's rows
            z = self.batch_noise(n)
            name = self.loss.d_phase(self.d_updates)
        else:
            real, n = None, self.cfg.train.batch_size
            z = self.batch_noise(n)
            name = "Gmain"
            self.D.requires_grad_(False)            # frozen D: only G's weights move
        total, stats = self.loss.compute(name, z=z, n_global=n, real=real, rng=self.net_rng, k=k,
                                         **self._labels(phase.name, n, z))
        if total is not None:
            self._update(phase, total)
            self.d_updates += phase.name == "D"
        if phase.name == "G":
            self.D.requires_grad_(True)
            if self.ema is not None:
                self.ema.update(self.G, (self.step + 1) * n)
        self._record(stats)

    def _labels(self, phase: str, n: int, z: torch.Tensor) -> Dict[str, torch.Tensor]:
        """A class-conditional run: the real batch's labels (D phase) and random labels for the fakes, drawn for
        the global batch from the training stream (then this rank's rows); a run on clusters: the real images'
        clusters and the ones G reads from this rank's latents ``z``; nothing otherwise."""
        if self.cfg.model.clusters:
            out = {"y_fake": unwrap(self.G).labels_of(z)}
        elif self.classes:
            y_fake = torch.randint(len(self.classes), (n,), device=self.device)
            out = {"y_fake": distributed.shard(y_fake, self.dist, self.unit)}
        else:
            return {}
        if phase == "D":
            out["y_real"] = self.real_labels
        return out

    def _update(self, phase: Phase, loss: torch.Tensor) -> None:
        scaler = self.parts.scaler
        phase.opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if self.cfg.train.clip_value > 0:
            scaler.unscale_(phase.opt)
            nn.utils.clip_grad_value_(list(phase.module.parameters()), self.cfg.train.clip_value)
        scaler.step(phase.opt)
        scaler.update()
        if phase.sched is not None:
            phase.sched.step()

    def should_stop(self) -> bool:
        """A stop asked on any rank (Ctrl-C/SIGTERM) stops all of them at the same step boundary; the ranks
        compare notes every log.every steps (a collective forces a GPU sync, so not every step)."""
        if self.dist.enabled and self.step % max(1, self.cfg.log.every):
            return False
        self.stop_requested = distributed.any_rank(self.stop_requested, self.dist)
        return self.stop_requested

    # ---- bookkeeping --------------------------------------------------------------------------------------
    def _record(self, values: Dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            self._acc.setdefault(k, []).append(v.float())

    def flush_stats(self) -> Dict[str, float]:
        """Means over the interval since the last flush (d_skipped as a share of D steps), the learning rates,
        and the L2 norms of G's and D's last gradients."""
        n_d = len(self._acc.get("loss_d", [])) or 1
        stats = {k: float(torch.stack(v).sum() / n_d if k == "d_skipped" else torch.stack(v).mean())
                 for k, v in self._acc.items()}
        self._acc = {}
        stats = distributed.all_mean(stats, self.dist)  # every rank flushes at the same steps
        stats["lr_d"] = self.parts.opt_d.param_groups[0]["lr"]
        stats["lr_g"] = self.parts.opt_g.param_groups[0]["lr"]
        for key, net in (("grad_norm_g", self.G), ("grad_norm_d", self.D)):  # of the last update's gradients
            grads = [p.grad for p in net.parameters() if p.grad is not None]
            if grads:
                stats[key] = float(torch.stack(torch._foreach_norm(grads)).float().norm())
        if self.pg is not None:  # progressive growing: the resolution being trained and its fade-in weight
            stats["pg_res"], stats["pg_alpha"] = self.pg.resolution, self.pg.alpha
        return stats

    def log_row(self, row: Dict[str, Any]) -> None:
        if not self.dist.is_main:  # only rank 0 writes files
            return
        row = {"step": self.step, "epoch": self.epoch, "time": round(time.time() - self._t0, 3), **row}
        RunDir(self.run_dir).append("metrics", row)

    def event(self, kind: str, message: str, **info: Any) -> None:
        """A diagnosis or remedy: events.jsonl and one plain-words console line."""
        if not self.dist.is_main:
            return
        RunDir(self.run_dir).append("events", {"step": self.step, "kind": kind, "message": message, **info})
        _report.warn(f"step {self.step}: {message}")

    def set_lr(self, which: str, lr: float) -> None:
        """Change a learning rate now (a remedy), schedulers included."""
        opt = self.optimizer(which)
        sched = self.parts.sched_d if which == "d" else self.parts.sched_g
        for g in opt.param_groups:
            g["lr"] = lr
        if sched is not None:
            sched.base_lrs = [lr * (1 + self.cfg.train.lr_decay * sched.last_epoch) for _ in sched.base_lrs]

    def sampling_model(self, ema: bool = True) -> nn.Module:
        return self.ema.model if (ema and self.ema is not None) else self.G

    def weights_finite(self) -> bool:
        """False when any weight of G, D or the EMA is NaN or infinite."""
        nets = [self.G, self.D] + ([self.ema.model] if self.ema is not None else [])
        return all(bool(torch.isfinite(p).all()) for m in nets for p in m.parameters())

    # ---- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        p = self.parts
        return {
            "format": 1, "step": self.step, "d_updates": self.d_updates, "config": self.cfg.to_dict(),
            "live": p.loss.live.state_dict(),   # the options hooks changed while training (train/live.py)
            "data_shape": list(self.data_shape),  # a loaded run builds G without reading the data again
            "G": p.G.state_dict(), "D": p.D.state_dict(), "G_ema": p.ema.state_dict() if p.ema else None,
            "opt_g": p.opt_g.state_dict(), "opt_d": p.opt_d.state_dict(),
            "sched_g": p.sched_g.state_dict() if p.sched_g else None,
            "sched_d": p.sched_d.state_dict() if p.sched_d else None,
            "scaler": p.scaler.state_dict(), "rng": ckpt.rng_state(self.data_gen, self.device),
            "data": {"perm": self.perm, "pos": self.pos}, "last_d_loss": p.loss.last_d_loss,
            "loss": p.loss.state_dict(),
            "progressive": None if self.pg is None else  # for inspection and a loaded run's samples
            {"images": self.step * self.cfg.train.batch_size, **self.pg.state_dict(),
             **progressive.lengths_state(self.pg_lengths)},
            "hooks": {h.key: h.state_dict() for h in self.hooks},
            **({"classes": list(self.classes)} if self.classes else {}),  # a conditional run's class names
        }

    def load_state_dict(self, s: Dict[str, Any]) -> None:
        """Continue from a checkpoint; every tensor is checked against the live run before anything loads."""
        p = self.parts
        check_state(s, p)
        p.G.load_state_dict(s["G"])
        p.D.load_state_dict(s["D"])
        p.opt_g.load_state_dict(s["opt_g"])
        p.opt_d.load_state_dict(s["opt_d"])
        if p.ema and s.get("G_ema") is not None:
            p.ema.load_state_dict(s["G_ema"])
        for sched, key in ((p.sched_g, "sched_g"), (p.sched_d, "sched_d")):
            if sched is not None and s.get(key):
                sched.load_state_dict(s[key])
        self._apply_changed_settings(s.get("config", {}).get("train", {}))
        p.scaler.load_state_dict(s["scaler"])
        ckpt.set_rng_state(s["rng"], self.data_gen, self.device)
        self.step, self.d_updates = int(s["step"]), int(s["d_updates"])
        self.perm, self.pos = s["data"]["perm"], s["data"]["pos"]
        if self.perm is not None and isinstance(self.data, ImageData) and len(self.perm) != len(self.data):
            # data.limit changed (allowed with --allow-change): a new pass over the data
            _report.say(f"the data hold {len(self.data)} items now ({len(self.perm)} when saved); "
                        "the data order starts a new pass", self.verbose)
            self.perm, self.pos = None, 0
        p.loss.load_state_dict(s.get("loss") or {"last_d_loss": s.get("last_d_loss", float("inf"))})
        for key, value in saved_live(s, self.cfg).items():
            p.loss.set_option(key, value)
        for h in self.hooks:
            h.load_state_dict(s.get("hooks", {}).get(h.key, {}))
        self.pg_lengths = progressive.saved_lengths(s.get("progressive"), self.cfg, self.pg_lengths)
        self._grow()  # the position follows from the step and the schedule's lengths (exact mid-fade)

    def _apply_changed_settings(self, saved: Dict[str, Any]) -> None:
        """Optimizer settings a resume changed (allowed with --allow-change) win over the checkpoint's: loading an
        optimizer's state brings back its old learning rate, betas and eps. Unchanged ones keep what the
        checkpoint holds (a remedy may have changed them during training)."""
        t = self.cfg.train
        for which in ("d", "g"):
            key = f"lr_{which}"
            if key in saved and saved[key] != getattr(t, key):
                self.set_lr(which, getattr(t, key))
            for g in self.optimizer(which).param_groups:
                if "betas" in g and (saved.get("beta1"), saved.get("beta2")) != (t.beta1, t.beta2):
                    g["betas"] = (t.beta1, t.beta2)
                if "alpha" in g and saved.get("rms_alpha") != t.rms_alpha:
                    g["alpha"] = t.rms_alpha
                if saved.get("eps") != t.eps:
                    g["eps"] = t.eps

    def save_checkpoint(self) -> Path:
        """Write the checkpoint (rank 0); non-finite weights are never written over a good checkpoint."""
        if not self.weights_finite():
            raise self.diverged()
        if not self.dist.is_main:
            return RunDir(self.run_dir).latest
        return ckpt.save(self.state_dict(), RunDir(self.run_dir).checkpoints, self.step, self.cfg.checkpoint.keep)

    def diverged(self, since: Optional[int] = None) -> Diverged:
        """The error that stops a run whose weights or losses went non-finite, with what to do next."""
        kept = RunDir(self.run_dir).kept_steps()
        lower = " ".join(f"train.lr_{w}={lr:g}" for w, lr in self._lower_lrs().items())
        where = (f"the last finite checkpoint is step {kept[-1]} (latest.pt); resume it "
                 f"with lower learning rates: gankit train {self.run_dir} --resume --set {lower} "
                 "--allow-change train.lr_d train.lr_g"
                 if kept else "no checkpoint was written; start again with lower learning rates (train.lr_d, "
                              "train.lr_g) or train.auto_remedy=true")
        span = f"between step {since} and step {self.step}" if since is not None else f"by step {self.step}"
        return Diverged(f"training diverged {span} (non-finite losses or weights); {where}")

    def _lower_lrs(self) -> Dict[str, float]:
        """The learning rates to suggest after a divergence ({"d": .., "g": ..}): the preset's where this run raised
        one above it, else a tenth of this run's."""
        t = self.cfg.train
        preset = load_config(self.cfg.name).train if self.cfg.name in preset_names() else t
        out = {}
        for w in ("d", "g"):
            lr, base = getattr(t, f"lr_{w}"), getattr(preset, f"lr_{w}")
            out[w] = base if base < lr else lr / 10
        return out

    # ---- loop ---------------------------------------------------------------------------------------------
    def fit(self) -> "Trainer":
        """Train until total_steps; Ctrl-C/SIGTERM stop at a step boundary, save, and raise Interrupted."""
        run_loop(self)
        return self
