"""Build RUN_DIR/report.html from what a run directory holds (and its generator, when a checkpoint is there)."""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..errors import GankitError, file_in_the_way
from ..models.traits import traits_of
from ..rundir import REPORT
from ..train.context import TrainingContext
from . import images, page
from .collect import GRAD_KEYS, LOSS_KEYS, LR_KEYS, SCORE_KEYS, RunFacts, collect
from .page import card, esc, image, kv_table
from .svg import Marker, Series, fmt, line_chart


def build_report(run_dir: Union[str, Path], out: Optional[Union[str, Path]] = None, data: Any = None,
                 load_real: bool = True, device: str = "cpu") -> Path:
    """Write one self-contained HTML page about a run (RUN_DIR/report.html unless ``out``); returns its path.

    ``data``: the run's dataset when the caller holds it (the training hook does); otherwise it is loaded
    from the data cache when ``load_real``, and the page says so when it cannot be.

    Example:
        >>> build_report("runs/ring")          # runs/ring/report.html
    """
    run_dir = Path(run_dir)
    facts = collect(run_dir)
    out = _check_out(Path(out).expanduser() if out else run_dir / REPORT)
    run, run_note = _load_generator(run_dir, device)
    if data is None and load_real:
        data = _load_data(facts)
    sections = [("What was run", what_was_run(facts)), ("Training curves", curves(facts)),
                ("Evaluation", evaluation(facts)), ("Samples from fixed noise over training", film(facts)),
                ("Real and generated", real_vs_generated(facts, run, run_note, data))]
    translates = run is not None and traits_of(run.G).translates   # image-to-image: no latent to walk
    if run is not None and len(run.data_shape) == 3 and not translates:
        sections.append(("Latent walk", latent_walk(run)))
    if translates:
        from .translate import restoration
        sections.append(("Held-out images: gankit and the baseline", restoration(run)))
    if "memorisation.png" in facts.extra_images:
        sections.append(("Memorisation", memorisation(facts)))
    title = f"{run_dir.name}: {facts.cfg.name}"
    subtitle = esc(facts.cfg.description or "") + (f' <span class="note">· report written '
                                                   f'{time.strftime("%Y-%m-%d %H:%M")}</span>')
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page.page(title, subtitle, sections), encoding="utf-8")
        tmp.replace(out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise GankitError(f"cannot write the report to {out}: {e.strerror or e}; choose another -o FILE") from None
    return out


def _check_out(out: Path) -> Path:
    """Before any work: the report's path is not a folder and its parents are not files."""
    if out.is_dir():
        raise GankitError(f"-o {out} is a folder; give a file name such as {out / REPORT}")
    parent = file_in_the_way(out)
    if parent is not None:
        raise GankitError(f"cannot write the report to {out}: {parent} is a file, not a folder")
    return out


def _load_generator(run_dir: Path, device: str):
    from ..run import load_run
    try:
        return load_run(run_dir, device=device), ""
    except GankitError as e:
        return None, str(e)
    except Exception as e:  # a checkpoint that does not load must not cost the rest of the page
        return None, f"the checkpoint could not be read ({type(e).__name__})"


def _load_data(facts: RunFacts):
    from ..data import load_data
    try:
        return load_data(facts.cfg.data, verbose=False)
    except Exception:  # the data may be gone or elsewhere: the report says so instead of failing
        return None


# ---- sections ---------------------------------------------------------------------------------------------
def _duration(s: Optional[float]) -> str:
    if s is None:
        return "unknown"
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


def what_was_run(f: RunFacts) -> str:
    t = f.cfg.train
    starts = [s for s in f.sessions if s.get("event") == "start"]
    latest = starts[-1] if starts else {}  # the environment of the latest session
    total = max([s.get("total_steps", 0) for s in starts] + [0]) or None
    rows: List[Tuple[str, str]] = [
        ("preset", f"<code>{esc(f.preset)}</code>" if f.preset else "none (a config file)"),
        ("run directory", f"<code>{esc(f.run_dir)}</code>"),
        ("steps", f"{f.steps:,}" + (f" of {total:,}" if total and total != f.steps else "")),
        ("real items seen", f"{f.images_seen:,} ({f.steps:,} steps × {max(1, t.d_steps)} D step × batch {t.batch_size})"),
        ("wall time of training", _duration(f.wall_s)),
        ("precision", esc(t.precision)),
        ("torch", esc(latest.get("torch", torch.__version__ + " (now; the run did not record it)"))),
        ("device", esc(latest.get("device", t.device))),
        ("threads", esc(latest.get("threads", t.threads or "torch's default"))),
    ]
    if latest.get("world", 1) > 1:
        rows.append(("processes (torchrun)", esc(latest["world"])))
    if f.changed:
        changes = "<br>".join(f"<code>{esc(k)}</code>: {esc(a)} → <b>{esc(b)}</b>" for k, a, b in f.changed)
        rows.append(("settings changed from the preset", changes))
    elif f.preset:
        rows.append(("settings changed from the preset", "none"))
    rows.append(("sessions", sessions_list(f)))
    return kv_table(rows)


def _threads(n: object) -> str:
    """'1 thread', '2 threads', '? threads' (not recorded)."""
    return f"{esc(n if n is not None else '?')} thread{'' if n == 1 else 's'}"


def sessions_list(f: RunFacts) -> str:
    starts = [s for s in f.sessions if s.get("event") == "start"]
    if not starts:
        return '<span class="note">not recorded (a run from before the report existed)</span>'
    ends = {e.get("session"): e for e in f.sessions if e.get("event") == "end"}
    items = []
    for s in starts:
        e = ends.get(s.get("session"))
        what = "started" if s.get("step", 0) == 0 else f"resumed at step {s['step']:,}"
        if e is None:
            tail = "ended without a word (killed?)"
        else:
            how = "interrupted" if e.get("interrupted") else "finished"
            tail = f"{how} at step {e.get('step', 0):,} after {_duration(e.get('wall_s'))}"
        items.append(f"<li>{esc(s.get('started', '?'))}: {what} on {esc(s.get('device', '?'))}, "
                     f"{_threads(s.get('threads'))}, torch {esc(s.get('torch', '?'))}; {tail}</li>")
    return '<ol class="events">' + "".join(items) + "</ol>"


def markers(f: RunFacts) -> List[Marker]:
    return [Marker(float(e.get("step", 0)), str(e.get("kind", "")), str(e.get("message", "")), i)
            for i, e in enumerate(f.events, 1)]


def curves(f: RunFacts) -> str:
    if not f.train_rows:
        return '<p class="note">No training rows in metrics.jsonl yet.</p>'
    x_max, mk = f.steps, markers(f)
    charts = []
    for keys, title, y_range in ((LOSS_KEYS, "losses", None), (SCORE_KEYS, "D's outputs (sigmoid)", (0.0, 1.0)),
                                 (GRAD_KEYS, "gradient norms (L2, last update of each log step)", None),
                                 (LR_KEYS, "learning rates", None)):
        series = [Series(k, v) for k, v in f.series(keys).items()]
        if series:
            charts.append(line_chart(series, x_max, title, mk, y_range))
    note = ('<p class="note">Thick lines: running means over ~2.5% of the run; faint: the logged values (means over '
            f"<code>log.every</code> = {f.cfg.log.every} steps). Dashed lines: the diagnoser's findings (red), "
            "remedies (green) and their results (grey), numbered as in the list below; hover for the words.</p>")
    return note + '<div class="grid">' + "".join(charts) + "</div>" + "<h3>The diagnoser</h3>" + \
        page.events_list(f.events)


def evaluation(f: RunFacts) -> str:
    parts = []
    ev = f.eval_series()
    if ev:
        mk = markers(f)
        parts.append('<div class="grid">' + "".join(
            line_chart([Series(name, pts, smooth=False, dots=True)], f.steps, name, mk) for name, pts in ev.items())
            + "</div>")
    else:
        parts.append('<p class="note">No periodic evaluation in this run (set <code>eval.every</code> to log metrics '
                     "during training).</p>")
    final = f.final_metrics()
    if final:
        parts.append("<h3>Final metrics</h3>" + kv_table([(k, _value(v)) for k, v in final.items()]))
    return "".join(parts)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return esc(fmt(v) if math.isfinite(v) else v)
    if isinstance(v, list):
        return esc(", ".join(fmt(x) if isinstance(x, float) else str(x) for x in v))
    return esc(v)


def film(f: RunFacts) -> str:
    frames = images.filmstrip(f.frames)
    width = images.width_of(f.frames[-1][1]) if f.frames else 0  # shown at the pictures' own size
    note = (f'<p class="note">{len(f.frames)} pictures saved; {len(frames)} shown (evenly spaced, first and last '
            "kept). Drag the slider to move through training.</p>")
    return note + page.filmstrip(frames, width)


def real_vs_generated(f: RunFacts, run, run_note: str, data: Any) -> str:
    if run is None:
        return f'<p class="note">No generator to sample: {esc(run_note)}</p>'
    if len(run.data_shape) != 3:  # toy data: the pictures draw the target and the samples together
        density = f.extra_images.get("density.png")
        path, what = ((density, "10 000 samples at the end against the target density") if density else
                      (f.frames[-1][1] if f.frames else None, "the last picture of the run"))
        uri = images.file_uri(path) if path else None
        body = image(uri, what) if uri else '<p class="note">no picture saved</p>'
        return f'<p class="note">Toy data: {what}.</p>' + body
    scale = 2 if run.data_shape[-1] <= 32 else 1
    rows = run.class_rows(64) if getattr(run, "classes", None) else None   # a conditional run: a row per class
    fake = (images.image_grid(run.generate(64, seed=0), scale) if rows is None else
            images.image_grid(run.generate(len(rows[0]), seed=0, labels=rows[0]), scale, nrow=rows[1]))
    real = images.real_images(data)
    left = (image(images.data_uri(images.image_grid(real, scale), 480), "real images", 360, True) if real is not None
            else '<p class="note">real images unavailable (the dataset could not be loaded here)</p>')
    right = image(images.data_uri(fake, 480), "generated images", 360, True)
    which = "EMA of G" if run.G_ema is not None else "G"
    return '<div class="grid">' + card("real (64 random training images)", left) + \
        card(f"generated ({'one row per class' if rows else '64 samples'}, {which}, step {run.step:,})", right) + \
        "</div>"


def latent_walk(run) -> str:
    from ..walk import strip
    img = strip(run, k=10, rows=4, seed=0)
    noise = "spherical (slerp) between Gaussian latents" if run.cfg.model.noise == "normal" else "linear"
    return (f'<p class="note">Four walks of 10 steps between random latents, {noise}. '
            f"<code>gankit sample {esc(run.run_dir)} --interpolate 10 --out walk.png</code> writes more, "
            "with a looping GIF.</p>" + image(images.data_uri(img, 640), "latent walk", 600, True))


def memorisation(f: RunFacts) -> str:
    uri = images.file_uri(f.extra_images["memorisation.png"], 900)
    return image(uri, "memorisation", 800) if uri else '<p class="note">memorisation.png could not be read</p>'


def session_row(ctx: TrainingContext, session: int) -> Dict[str, Any]:
    """What the report hook records when a run starts or resumes (sessions.jsonl)."""
    device = getattr(ctx, "device", None)
    import torch.distributed as dist
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1  # torchrun processes
    return {"event": "start", "session": session, "step": ctx.step, "total_steps": ctx.total_steps,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(device) if device is not None else "?",
            "threads": torch.get_num_threads(), "precision": ctx.cfg.train.precision,
            "world": world}
