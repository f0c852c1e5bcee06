"""The diagnoser hook: its settings, the detectors' bookkeeping and the advice it prints (what it detects and
which remedies it takes: the package docstring, ``gankit.diagnose``)."""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..config import RunConfig, load_config, preset_names
from ..train.context import TrainingContext
from ..train.hooks import Hook
from .probes import Diversity, finite, grad_norms
from .remedies import LADDERS, REMEDIES, Remedies

BCE_FAMILY = ("bce", "nonsaturating", "minimax")
RECOVERING = 1.1   # collapse: a spread this much above the last check's is mending itself (no finding yet)
WORSE = 0.8        # advice only: collapse is said again when the spread falls below this share of the last said


@dataclass
class DiagnoseSettings:
    window: int = 0               # steps a symptom must last, and steps before judging a remedy (0: auto)
    check_every: int = 0          # steps between fixed-noise diversity checks (0: window // 2)
    n: int = 512                  # samples per diversity check (256 for images)
    d_loss_floor: float = 0.05    # D wins: its loss stays below this ...
    d_gap: float = 0.9            # ... or D(real) - D(fake) stays above this share of the label gap
    spread_min: float = 0.5       # collapse: spread below half the real batch's ...
    coverage_min: float = 0.75    # ... or under 75% of the modes/classes the real batch shows
    patience: int = 2             # consecutive bad diversity checks before collapse is declared
    warmup: int = 0               # steps before diversity is judged: G starts as a blob (0: 2 windows)
    explode: float = 50.0         # diverged: a gradient norm above 50x its running median

    def resolved(self, total_steps: int, images: bool) -> "DiagnoseSettings":
        s = dataclasses.replace(self)
        s.window = s.window or int(min(500, max(50, total_steps // 10)))
        s.check_every = s.check_every or max(1, s.window // 2)
        s.warmup = s.warmup or 2 * s.window
        s.n = min(s.n, 256) if images else s.n
        return s


def stable_advice(cfg: RunConfig) -> str:
    """The stable preset for this run's data, by name ("the stable preset ring-2d-stable"), read from the
    presets themselves; the stability docs when the data has none."""
    if cfg.name.endswith("-stable"):
        return "lower learning rates (train.lr_d, train.lr_g) on this stable preset"
    same = [n for n in preset_names() if n.endswith("-stable") and load_config(n).data.name == cfg.data.name]
    if cfg.data.path and not same:
        same = [n for n in preset_names() if n.endswith("-stable") and load_config(n).data.name == "folder"]
    if not same:
        return "one of the stable recipes in docs/stability.md"
    where = f" --set data.path={cfg.data.path}" if cfg.data.path else ""
    return f"the stable preset {same[0]} (gankit train {same[0]}{where})"


class DiagnoseHook(Hook):
    """Runs the detectors after each step; applies remedies when ``train.auto_remedy`` is on."""

    all_ranks = True  # its remedies change training: under torchrun every rank applies them at the same step

    def __init__(self, settings: Optional[DiagnoseSettings] = None):
        self.base = settings or DiagnoseSettings()
        self.s = self.base
        self.rows: deque = deque(maxlen=2000)      # (step, loss_d, d_real, d_fake) per log row
        self.grads: Dict[str, deque] = {"grad_g": deque(maxlen=50), "grad_d": deque(maxlen=50)}
        self.quiet = {"d_wins": 0, "collapse": 0}  # no new finding of a kind before this step
        self.d_winning = False                     # D winning over the last window (medians), now
        self.bad_checks = 0
        self.best_spread = 0.0
        self.told: Optional[Dict[str, float]] = None   # advice only: the diversity when collapse was last said
        self.history: List[Dict[str, Any]] = []    # every diversity check: step, spread, coverage
        self.rungs = {k: 0 for k in LADDERS}       # next remedy on each ladder
        self.pending: List[Dict[str, Any]] = []    # remedies waiting for their result event
        self.remedies = Remedies()
        # The one rollback snapshot (weights of G, D and G's EMA, its step, and whether its samples were diverse):
        # the last healthy check whose samples were diverse (before warm-up: the last healthy check). One copy,
        # so a checkpoint holds the model twice, not four times.
        self.kept: Optional[Dict[str, Any]] = None
        self.diversity: Optional[Diversity] = None

    # ---- hook interface -----------------------------------------------------------------------------------
    def on_start(self, ctx: TrainingContext) -> None:
        from ..data import ImageData
        self.s = self.base.resolved(ctx.total_steps, isinstance(ctx.data, ImageData))
        self.diversity = Diversity(ctx, self.s.n)
        self.remedies.reapply(ctx)             # after a resume: the remedies applied so far hold again
        if self.kept is None:
            self.kept = {**ctx.snapshot(), "diverse": False}

    def on_step(self, ctx: TrainingContext, stats: Dict[str, float]) -> None:
        self.remedies.on_step(ctx)             # fading noise
        if stats:
            self._observe(ctx, stats)
        self._report_results(ctx)              # what the earlier remedies did, before new findings
        if stats:
            if self._check_divergence(ctx, stats):
                return
            self._check_d_wins(ctx)
        if ctx.step % self.s.check_every == 0:
            self._check_collapse(ctx)

    def state_dict(self) -> Dict[str, Any]:
        return {"rows": [list(r) for r in self.rows], "grads": {k: list(v) for k, v in self.grads.items()},
                "quiet": dict(self.quiet), "d_winning": self.d_winning, "bad_checks": self.bad_checks,
                "best_spread": self.best_spread, "told": self.told, "history": self.history, "rungs": dict(self.rungs),
                "pending": self.pending, "remedies": self.remedies.state_dict(),
                "kept": self.kept}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if not state:
            return
        self.rows = deque((tuple(r) for r in state["rows"]), maxlen=2000)
        self.grads = {k: deque(v, maxlen=50) for k, v in state["grads"].items()}
        self.quiet, self.bad_checks = dict(state["quiet"]), state["bad_checks"]
        self.d_winning = bool(state.get("d_winning", False))
        self.best_spread, self.history = state["best_spread"], list(state["history"])
        self.told = state.get("told")
        self.rungs.update(state["rungs"])
        self.pending = list(state["pending"])
        self.remedies.load_state_dict(state["remedies"])
        self.kept = state.get("kept")
        if "kept" not in state:  # a checkpoint from before the one snapshot: its most useful one
            old = state.get("best") or state.get("good") or state.get("candidate")
            self.kept = {**old, "diverse": old is state.get("best")} if old else None

    # ---- detectors ----------------------------------------------------------------------------------------
    def _observe(self, ctx: TrainingContext, stats: Dict[str, float]) -> None:
        self.rows.append((ctx.step, stats.get("loss_d", math.nan), stats.get("d_real", math.nan),
                          stats.get("d_fake", math.nan)))

    def _check_divergence(self, ctx: TrainingContext, stats: Dict[str, float]) -> bool:
        bad = [k for k in ("loss_d", "loss_g") if k in stats and not math.isfinite(stats[k])]
        what = f"the {'discriminator' if bad[0] == 'loss_d' else 'generator'}'s loss is {stats[bad[0]]}" if bad else ""
        norms = grad_norms(ctx)
        for key, value in norms.items():
            past = self.grads[key]
            who = "generator" if key == "grad_g" else "discriminator"
            if not what and not math.isfinite(value):
                what = f"the {who}'s gradient is {value}"
            elif not what and len(past) >= 10 and value > self.s.explode * statistics.median(past):
                med = statistics.median(past)
                what = (f"the {who}'s gradient norm jumped to {value:.3g}, {value / med:.0f}x its usual "
                        f"{med:.3g}")
            if math.isfinite(value):
                past.append(value)
        if not what and not finite(ctx.G, ctx.D):
            what = "the weights hold NaN or infinite values"
        if not what:
            return False
        self._finding(ctx, "diverged", f"training diverged: {what}", norms)
        return True

    def _d_state(self, ctx: TrainingContext, rows: List[tuple]) -> Dict[str, Any]:
        """Medians of D's loss, D(real) and D(fake) over log rows, and whether they say D is winning."""
        cfg = ctx.cfg.loss
        loss = statistics.median(r[1] for r in rows)
        real, fake = statistics.median(r[2] for r in rows), statistics.median(r[3] for r in rows)
        low = loss < self.s.d_loss_floor
        gap = cfg.name in BCE_FAMILY and real - fake > self.s.d_gap * self._label_gap(ctx)
        return {"loss_d": loss, "d_real": real, "d_fake": fake, "low": low, "winning": low or gap}

    def _check_d_wins(self, ctx: TrainingContext) -> None:
        step, every = ctx.step, ctx.cfg.log.every
        self.d_winning = False
        if ctx.cfg.loss.name == "wgan":
            return  # a WGAN critic is meant to be trained to optimality: "winning" is not a failure there
        window = [r for r in self.rows if r[0] > step - self.s.window]
        if not window or window[0][0] - every > step - self.s.window or len(window) * every < self.s.window:
            return  # the rows do not cover a whole window yet
        st = self._d_state(ctx, window)
        self.d_winning = st["winning"]
        if not self.d_winning or step < self.quiet["d_wins"]:
            return
        if st["low"]:
            msg = (f"discriminator is winning: its loss has been below {self.s.d_loss_floor:g} for most of the "
                   f"last {self.s.window} steps (median {st['loss_d']:.3g}), so the generator gets little to "
                   "learn from")
        else:
            msg = (f"discriminator is winning: over the last {self.s.window} steps it has typically scored real "
                   f"samples {st['d_real']:.2f} and generated ones {st['d_fake']:.2f} — it tells them apart "
                   "almost perfectly, so the generator gets little to learn from")
        self._finding(ctx, "d_wins", msg, {k: st[k] for k in ("loss_d", "d_real", "d_fake")})

    @staticmethod
    def _label_gap(ctx: TrainingContext) -> float:
        """The widest D(real) - D(fake) the targets ask for (1 without smoothing or label noise)."""
        return ctx.option("loss.real_label") - ctx.option("loss.label_noise")

    def _check_collapse(self, ctx: TrainingContext) -> None:
        assert self.diversity is not None
        m = self.diversity.measure(ctx)
        self.history.append({"step": ctx.step, **m})
        healthy = math.isfinite(m["spread"]) and finite(ctx.G, ctx.D)
        if not healthy:
            return
        diverse = m["spread"] >= self.s.spread_min and m.get("coverage", 1.0) >= self.s.coverage_min
        judged = ctx.step >= self.s.warmup
        if diverse or not judged or self.kept is None:  # never replace a diverse state by a collapsed one
            self.kept = {**ctx.snapshot(), "diverse": diverse and judged}
        if ctx.step < max(self.quiet["collapse"], self.s.warmup):
            return
        low_spread = m["spread"] < self.s.spread_min
        low_cover = m.get("coverage", 1.0) < self.s.coverage_min
        self.bad_checks = self.bad_checks + 1 if (low_spread or low_cover) else 0
        if self.bad_checks < self.s.patience or self._recovering(m):
            self.best_spread = max(self.best_spread, m["spread"])
            return
        self.bad_checks = 0
        if not ctx.cfg.train.auto_remedy and not self._worse_than_told(m):
            return              # said already at diversity as low as this: nothing new to act on
        self.told = {"spread": m["spread"], "coverage": m.get("coverage", 1.0)}
        parts = []
        if "covered" in m:
            kind = "modes" if self.diversity.modes is not None else "classes"
            parts.append(f"cover {m['covered']} of the {m['real_covered']} {kind} the real data shows")
        parts.append(f"are spread {m['spread']:.2f}x as widely as real data"
                     + (f" (best so far {self.best_spread:.2f}x)" if self.best_spread > m["spread"] else ""))
        msg = (f"samples are collapsing: {self.diversity.n} samples from fixed noise " + " and ".join(parts)
               + f", for {self.s.patience} checks in a row")
        self._finding(ctx, "collapse", msg, m, defer=self.d_winning)

    def _recovering(self, m: Dict[str, Any]) -> bool:
        """The spread or coverage rose clearly since the previous check: a collapse that mends itself (as early
        collapse often does) is not yet something to act on."""
        if len(self.history) < 2:
            return False
        prev = self.history[-2]
        return m["spread"] > RECOVERING * prev["spread"] or m.get("coverage", 0.0) > prev.get("coverage", 1.0)

    def _worse_than_told(self, m: Dict[str, Any]) -> bool:
        """Advice only: whether the diversity fell clearly below what the last collapse finding said."""
        if self.told is None:
            return True
        return m["spread"] < WORSE * self.told["spread"] or m.get("coverage", 1.0) < self.told["coverage"]

    # ---- remedies -----------------------------------------------------------------------------------------
    def _finding(self, ctx: TrainingContext, kind: str, message: str, before: Dict[str, Any], defer: bool = False) -> None:
        """Report a finding; with auto_remedy apply the next remedy on its ladder (unless `defer`red)."""
        before = {k: v for k, v in before.items() if isinstance(v, (int, float))}
        ladder = LADDERS[kind]
        rung = self.rungs[kind]
        name = ladder[min(rung, len(ladder) - 1)] if (kind == "diverged" or rung < len(ladder)) else None
        if kind in self.quiet:  # judge this symptom again only after a window of new evidence
            self.quiet[kind] = ctx.step + self.s.window * (1 if self.rungs[kind] < len(ladder) else 3)
        if defer:  # collapse while D wins: D is the likelier cause, and its remedies come first
            ctx.event(kind, f"{message}. The discriminator is winning at the same time, the likelier cause: "
                          "the diagnoser treats that first", **before)
            return
        if not ctx.cfg.train.auto_remedy:  # suggest the next remedy that would change something here
            while name is not None and not REMEDIES[name].applies(ctx):
                rung += 1
                name = ladder[rung] if rung < len(ladder) else None
            self.rungs[kind] = rung + 1 if name is not None else rung
            hint = REMEDIES[name].hint(ctx, self, kind) if name else stable_advice(ctx.cfg)
            ctx.event(kind, f"{message}. Suggestion: {hint} (or set train.auto_remedy=true)", **before)
            return
        done = None
        while name is not None and done is None:
            done = self.remedies.apply(name, kind, self, ctx) if name else None
            self.rungs[kind] = rung = rung + 1
            if done is None:
                name = ladder[rung] if rung < len(ladder) else None
        if done is None:
            ctx.event(kind, f"{message}. The diagnoser has already tried what it knows for this "
                          f"({', '.join(ladder)}); {stable_advice(ctx.cfg)} may do better", **before)
            return
        ctx.event(kind, message, **before)
        ctx.event("remedy", f"remedy: {done['message']}", remedy=name, changes=done["changes"])
        self.pending.append({"due": ctx.step + self.s.window, "kind": kind, "remedy": name,
                             "step": ctx.step, "before": before})

    def rollback(self, ctx: TrainingContext, kind: str) -> Optional[int]:
        """Load the kept weights (for collapse: only a state whose samples were diverse) with fresh optimizer
        moments; returns their step, or None when there is no such state."""
        target = self.rollback_target(kind)
        if target is None:
            return None
        ctx.rollback(target)
        return int(target["step"])

    def rollback_target(self, kind: str) -> Optional[Dict[str, Any]]:
        """The snapshot a rollback for ``kind`` goes to: for collapse only a diverse one."""
        if self.kept is None or (kind == "collapse" and not self.kept.get("diverse")):
            return None
        return self.kept

    def _report_results(self, ctx: TrainingContext) -> None:
        for p in [p for p in self.pending if ctx.step >= p["due"]]:
            self.pending.remove(p)
            if p["kind"] == "collapse":
                assert self.diversity is not None
                after = {k: v for k, v in self.diversity.measure(ctx).items() if isinstance(v, (int, float))}
                ok = after["spread"] >= self.s.spread_min and after.get("coverage", 1.0) >= self.s.coverage_min
                keys: List[str] = [k for k in ("spread", "coverage") if k in after]
            else:
                rows = [r for r in self.rows if r[0] > p["step"]]
                if not rows:
                    continue
                st = self._d_state(ctx, rows)  # medians since the remedy, judged as the detector judges
                after = {k: st[k] for k in ("loss_d", "d_real", "d_fake")}
                ok = all(math.isfinite(v) for v in after.values())
                if p["kind"] == "d_wins":
                    ok = ok and not st["winning"]
                keys = ["loss_d", "d_real", "d_fake"]
            change = ", ".join(f"{k} {p['before'].get(k, math.nan):.3g} -> {after[k]:.3g}" for k in keys)
            verdict = "the symptom is gone" if ok else "the symptom is still there"
            ctx.event("remedy_result", f"{ctx.step - p['step']} steps after '{p['remedy']}' for "
                          f"{p['kind']}: {change}; {verdict}", remedy=p["remedy"], helped=ok, before=p["before"],
                          after=after)
