"""The diagnoser's remedies: what each one changes, and how the changes survive a resume.

A remedy returns ``{"message", "changes"}`` when it applied, or None when it does not apply to this run (e.g.
raising dropout in a discriminator that has none); the diagnoser then moves to the next rung of the ladder.

Noise remedies fade out: instance and label noise start at their level and fall linearly to what the run had
before over ``FADE`` windows, so the final samples are not blurred by the noise the early fix needed.

Augmentation is the remedy for small image sets (up to SMALL_DATA images), where D learns the training images
by heart: DiffAugment of what D sees when the run has none (a live change), adaptive augmentation when DiffAugment
is already on (a suggestion only: switched on live, at p = 0, over DiffAugment on 100 LFW faces it diverged 130
steps later and ended with a worse KID than the next rung, 0.364 against 0.336; from the start it gave 0.227;
docs/folders.md).

Example:
    >>> LADDERS["d_wins"]
    ['lower_momentum', 'lower_lr_d', 'augment', 'noise', 'skip_d', 'dropout']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ..data import ImageData
from ..registry import Registry, instance_of
from ..rundir import RunDir
from ..train.context import TrainingContext

if TYPE_CHECKING:  # annotations only: the diagnoser imports this module
    from .diagnoser import DiagnoseHook

LADDERS = {
    "d_wins": ["lower_momentum", "lower_lr_d", "augment", "noise", "skip_d", "dropout"],
    "collapse": ["lower_momentum", "augment", "noise", "dropout", "rollback"],
    "diverged": ["rollback"],
}
FADE = 4                 # noise fades out over this many diagnosis windows
INSTANCE_NOISE = 0.1     # std of instance noise, in units of the real data's std per feature
LABEL_NOISE = 0.1        # D's targets move towards the other class by U(0, 0.1)
DROPOUT_STEP, DROPOUT_MAX = 0.2, 0.5
LR_FACTOR = 0.5
MOMENTUM = 0.5           # Adam beta1 after the lower_momentum remedy
# Image sets this small get augmentation first: the sizes at which DiffAugment (Zhao et al. 2020: 10% and 20% of
# CIFAR-10) and ADA (Karras et al. 2020: FFHQ subsets of 2 000 and 10 000) report D memorising its training set.
SMALL_DATA = 20_000
AUGMENT = "translation,color"   # the folder presets' policy
ADA_TARGET = 0.6                # StyleGAN2-ADA's target for E[sign(D(real))]


def _always(ctx: TrainingContext) -> bool:
    return True


@dataclass
class Remedy:
    fn: Callable[..., Optional[Dict[str, Any]]]
    advice: str          # the suggestion printed when auto_remedy is off
    applies: Callable[[Any], bool] = _always   # False: this run has nothing for the remedy to change
    concrete: Optional[Callable[..., str]] = None   # (ctx, hook, kind) -> the advice with this run's numbers

    def hint(self, ctx: TrainingContext, hook: "DiagnoseHook", kind: str) -> str:
        """The suggestion for this run: with its own values where the remedy knows them, else the advice."""
        return self.concrete(ctx, hook, kind) if self.concrete is not None else self.advice

    def __post_init__(self) -> None:
        if not callable(self.fn) or not callable(self.applies) or not (self.concrete is None or callable(self.concrete)):
            raise TypeError(f"a remedy's fn, applies and concrete must be functions, got {self.fn!r}, "
                            f"{self.applies!r}, {self.concrete!r}")
        if not isinstance(self.advice, str) or not self.advice:
            raise TypeError(f"remedy {self.fn!r} needs its advice: one line for the user, got {self.advice!r}")


REMEDIES = Registry("remedy", expects=instance_of(Remedy))


def remedy(name: str, advice: str, applies: Callable[[Any], bool] = _always,
           concrete: Optional[Callable[..., str]] = None):
    """Registers ``fn(remedies, hook, ctx, kind) -> {"message", "changes"} | None`` as a remedy."""
    def deco(fn):
        REMEDIES.register(name)(Remedy(fn, advice, applies, concrete))
        return fn
    return deco


def _high_momentum(ctx: TrainingContext) -> bool:
    beta1 = ctx.beta1()
    return beta1 is not None and beta1 > MOMENTUM


def _dropout_below_max(ctx: TrainingContext) -> bool:
    p = ctx.dropout()
    return p is not None and p < DROPOUT_MAX


@remedy("lower_momentum", "use Adam's beta1 = 0.5 (DCGAN's setting), e.g. --set train.beta1=0.5", _high_momentum)
def lower_momentum(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Optional[Dict[str, Any]]:
    """Adam with beta1 0.9 (torch's default, lesson 001) overshoots in the GAN game; Radford et al. 2016 found
    0.5 stable. Skipped when the run already uses beta1 <= 0.5 or another optimizer."""
    if not _high_momentum(ctx):
        return None
    old = ctx.beta1()
    ctx.set_beta1(MOMENTUM)
    return {"message": f"lowered Adam's momentum (beta1) of both networks from {old:g} to {MOMENTUM:g}, which "
                       "damps the back-and-forth between G and D",
            "changes": {"beta1": [old, MOMENTUM]}}


def _checkpoint_at_or_before(ctx: TrainingContext, step: int) -> Optional[int]:
    """The step of the newest kept checkpoint file at or before ``step`` (None: none is kept from then)."""
    kept = sorted(RunDir(ctx.run_dir).kept_steps(), reverse=True)
    return next((k for k in kept if k <= step), None)


def _resume_with(ctx: TrainingContext, keys: Dict[str, Any], at: Optional[int] = None) -> str:
    """The command that continues this run with new values: from its end, or from the kept checkpoint of step
    ``at`` (copied over latest.pt first)."""
    run = ctx.run_dir
    sets = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in keys.items())
    rd = RunDir(run)
    start = f"cp {rd.checkpoint(at)} {rd.latest} && " if at is not None else ""
    return f"{start}gankit train {run} --resume --allow-change {' '.join(keys)} --set {sets}"


def _lower_lr_d_advice(ctx: TrainingContext, hook: "DiagnoseHook", kind: str) -> str:
    half = ctx.lr("d") * LR_FACTOR
    return f"halve D's learning rate: stop this run, then {_resume_with(ctx, {'train.lr_d': half})}"


def _rollback_advice(ctx: TrainingContext, hook: "DiagnoseHook", kind: str) -> str:
    target = hook.rollback_target(kind)
    step = int(target["step"]) if target is not None else None
    lrs = {f"train.lr_{w}": ctx.lr(w) * LR_FACTOR for w in ("d", "g")}
    if step is None:
        return f"halve both learning rates: stop this run, then {_resume_with(ctx, lrs)}"
    at = _checkpoint_at_or_before(ctx, step)
    if at is None:   # advise only what can be done: there is no checkpoint to go back to
        return (f"samples were last diverse at step {step}, but no checkpoint from then is kept (checkpoint.every="
                f"{ctx.cfg.checkpoint.every}); halve both learning rates from here: stop this run, then "
                f"{_resume_with(ctx, lrs)}; to be able to go back next time, train with --set "
                f"checkpoint.every={hook.s.check_every}")
    return (f"go back to step {at} (the newest checkpoint from when samples were last diverse, at step {step}) "
            f"with both learning rates halved: stop this run, then {_resume_with(ctx, lrs, at)}")


@remedy("lower_lr_d", "lower D's learning rate, e.g. --set train.lr_d=<half of it>", concrete=_lower_lr_d_advice)
def lower_lr_d(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Dict[str, Any]:
    old = ctx.lr("d")
    ctx.set_lr("d", old * LR_FACTOR)
    return {"message": f"halved the discriminator's learning rate ({old:.3g} -> {old * LR_FACTOR:.3g})",
            "changes": {"lr_d": [old, old * LR_FACTOR]}}


def _noise_levels(hook: "DiagnoseHook", ctx: TrainingContext) -> Dict[str, float]:
    """The noise the remedy adds: instance noise for every loss, label noise for losses with targets."""
    real = hook.diversity.real
    std = 1.0 if isinstance(ctx.data, ImageData) else float(real.std(0).mean())
    level = {"instance_noise": max(ctx.option("loss.instance_noise"), INSTANCE_NOISE * std)}
    if ctx.loss_uses_targets:
        level["label_noise"] = max(ctx.option("loss.label_noise"), LABEL_NOISE)
    return level


def _noise_advice(ctx: TrainingContext, hook: "DiagnoseHook", kind: str) -> str:
    level = _noise_levels(hook, ctx)
    what = "instance noise and label noise" if "label_noise" in level else "instance noise"
    return (f"add {what} to what D sees: stop this run, then "
            f"{_resume_with(ctx, {f'loss.{k}': v for k, v in level.items()})}")


@remedy("noise", "add instance noise and label noise, e.g. --set loss.instance_noise=0.1 --set loss.label_noise=0.1",
        concrete=_noise_advice)
def noise(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Dict[str, Any]:
    level = _noise_levels(hook, ctx)
    steps = FADE * hook.s.window
    base = {k: ctx.option(f"loss.{k}") for k in level}
    if rem.fade is not None:  # a second dose while the first fades: fade back to the run's own values
        base.update(rem.fade["base"])
    rem.fade = {"start": ctx.step, "steps": steps, "level": level, "base": base}
    rem.on_step(ctx)
    said = " and ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in level.items())
    return {"message": f"added {said} to what the discriminator sees, fading out over {steps} steps",
            "changes": {f"loss.{k}": v for k, v in level.items()}}


def _small_images(ctx: TrainingContext) -> bool:
    """A small image set that is not yet under adaptive augmentation: augmentation has something to do."""
    data = ctx.data
    return (isinstance(data, ImageData) and data.images.shape[0] <= SMALL_DATA
            and not ctx.option("train.ada_target") > 0)


def _augment_advice(ctx: TrainingContext, hook: "DiagnoseHook", kind: str) -> str:
    n = ctx.data.images.shape[0]
    if not ctx.option("train.augment"):
        return (f"augment what D sees, real and fake alike (DiffAugment; {n} images are few enough for D to learn "
                f"them by heart): stop this run, then "
                f"{_resume_with(ctx, {'train.augment': AUGMENT})}")
    return (f"let the augmentation adapt (ADA: applied more often while D is sure of the real images; {n} images "
            f"are few enough for D to learn them by heart): stop this run, then "
            f"{_resume_with(ctx, {'train.ada_target': ADA_TARGET})}")


@remedy("augment", f"augment what D sees on a small image set, e.g. --set train.augment={AUGMENT} "
                   f"(or train.ada_target={ADA_TARGET} when it is on)", _small_images, concrete=_augment_advice)
def augment(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Optional[Dict[str, Any]]:
    """DiffAugment (translation and colour) on real and fake when a small image set has none; a run that already
    augments is left to the next rung (adaptive augmentation is suggested with a resume: see the module doc)."""
    if not _small_images(ctx) or ctx.option("train.augment"):
        return None
    rem.set_cfg(ctx, "train.augment", AUGMENT)
    return {"message": f"turned on DiffAugment ({AUGMENT.replace(',', ' and ')}) for what the discriminator sees, "
                       f"real and fake alike, so it cannot learn the {ctx.data.images.shape[0]} training images by "
                       "heart",
            "changes": {"train.augment": AUGMENT}}


@remedy("skip_d", "skip D's updates while its loss is low, e.g. --set train.d_skip_below=0.1")
def skip_d(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Dict[str, Any]:
    recent = [r[1] for r in list(hook.rows)[-10:]]
    threshold = max(2 * hook.s.d_loss_floor, 1.5 * sum(recent) / max(len(recent), 1))
    rem.set_cfg(ctx, "train.d_skip_below", round(threshold, 4))
    return {"message": f"the discriminator now skips its update while its loss is below {threshold:.3g}",
            "changes": {"train.d_skip_below": threshold}}


@remedy("dropout", "raise dropout in D, e.g. --set model.d_dropout=0.5", _dropout_below_max)
def dropout(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Optional[Dict[str, Any]]:
    if not _dropout_below_max(ctx):
        return None
    old = ctx.dropout()
    rem.dropout = min(old + DROPOUT_STEP, DROPOUT_MAX)
    ctx.set_dropout(rem.dropout)
    return {"message": f"raised dropout in the discriminator from {old:.2f} to {rem.dropout:.2f}",
            "changes": {"dropout": [old, rem.dropout]}}


@remedy("rollback", "resume from an earlier checkpoint with both learning rates halved (train.lr_d, train.lr_g)",
        concrete=_rollback_advice)
def rollback(rem: "Remedies", hook: "DiagnoseHook", ctx: TrainingContext, kind: str) -> Dict[str, Any]:
    to = hook.rollback(ctx, kind)
    if to is None and kind == "collapse":
        return None  # samples were never diverse after the warm-up: nothing to go back to
    lrs = {}
    for which in ("d", "g"):
        old = ctx.lr(which)
        ctx.set_lr(which, old * LR_FACTOR)
        lrs[f"lr_{which}"] = [old, old * LR_FACTOR]
    where = f"rolled back G and D to their weights at step {to}" if to is not None else "found no weights to roll back to"
    return {"message": f"{where} and halved both learning rates (D {lrs['lr_d'][1]:.3g}, G {lrs['lr_g'][1]:.3g}); "
                       "the optimizers start afresh",
            "changes": {"rolled_back_to": to, **lrs}}


class Remedies:
    """The live changes remedies made (live options, dropout, a noise fade) and their re-application."""

    def __init__(self) -> None:
        self.cfg: Dict[str, Any] = {}            # "section.key" -> value set with ctx.set_option
        self.dropout: Optional[float] = None
        self.fade: Optional[Dict[str, Any]] = None
        self.log: list = []                      # (step, name) of every remedy applied

    def apply(self, name: str, kind: str, hook: "DiagnoseHook", ctx: TrainingContext) -> Optional[Dict[str, Any]]:
        """Apply remedy `name` for a finding of `kind`; None when it does not apply to this run."""
        done = REMEDIES[name].fn(self, hook, ctx, kind)
        if done is not None:
            self.log.append([ctx.step, name])
        return done

    def set_cfg(self, ctx: TrainingContext, key: str, value: Any) -> None:
        ctx.set_option(key, value)
        self.cfg[key] = value

    def on_step(self, ctx: TrainingContext) -> None:
        """Move the fading noise along; once it has faded, the run's own values are back."""
        if self.fade is None:
            return
        f = self.fade
        left = max(0.0, 1.0 - (ctx.step - f["start"]) / max(f["steps"], 1))
        for k, level in f["level"].items():
            base = f["base"][k]
            ctx.set_option(f"loss.{k}", base + (level - base) * left)
        if left == 0.0:
            self.fade = None

    def reapply(self, ctx: TrainingContext) -> None:
        """After a resume: the config changes, dropout and noise level as they were when the checkpoint was saved."""
        for key, value in self.cfg.items():
            self.set_cfg(ctx, key, value)
        if self.dropout is not None:
            ctx.set_dropout(self.dropout)
        self.on_step(ctx)

    def state_dict(self) -> Dict[str, Any]:
        return {"cfg": dict(self.cfg), "dropout": self.dropout, "fade": self.fade, "log": list(self.log)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.cfg, self.dropout = dict(state.get("cfg", {})), state.get("dropout")
        self.fade, self.log = state.get("fade"), list(state.get("log", []))
