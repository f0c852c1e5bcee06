"""The Python API; the CLI only wraps these calls.

Example:
    >>> import gankit
    >>> run_dir = gankit.train("gaussian-1d", overrides=["train.steps=2000"], out="runs/g1d")
    >>> x = gankit.load_run(run_dir).generate(10000)      # (10000, 1)
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .config import RunConfig, all_keys, apply_overrides, config_diff, from_dict, get_value, load_config
from .data import data_shape, dataset_info
from .errors import GankitError, file_in_the_way
from .models.traits import traits_of
from .registry import unknown_name_message
from .reporter import Reporter
from .run import (  # noqa: F401
    Run,
    as_run_dir,
    check_count,
    check_model_fits,
    check_not_the_runs_own,
    check_seed,  # load_run: part of the Python API
    load_run,
    read_config,
)
from .rundir import RunDir
from .seeds import IMAGE_SUFFIXES, save_image
from .train import checkpoint as ckpt
from .train import distributed
from .train.hooks import Hook
from .train.lock import RunLock
from .train.trainer import Trainer
from .train.validate import known_total_steps, validate_config

_report = Reporter(__name__)

# What a resumed run may change without being asked: the horizon, and settings that do not touch the training
# computation (sampling, logging, checkpoints and evaluation draw on their own random streams).
RESUMABLE = ("train.steps", "train.epochs", "train.threads", "log.", "sample.", "checkpoint.", "eval.")
# keys whose checkpointed state belongs to one value: Adam's moments are not RMSprop's square averages
FIXED_ON_RESUME = ("train.optimizer",)


def resolve_config(config: Union[str, RunConfig], overrides: Sequence[str] = ()) -> RunConfig:
    """A preset name, a config file, or a run directory (its config.json), with --set overrides applied.

    Every value is checked here, before any data is loaded: ranges, registered names, settings that must fit
    each other (train/validate.py), and the evaluation's metric and feature names.
    """
    if isinstance(config, RunConfig):
        cfg = apply_overrides(config, list(overrides))
    else:
        run = as_run_dir(config)
        cfg = apply_overrides(read_config(run) if run else load_config(config), list(overrides))
    from .metrics import EXTRACTORS, METRICS  # the metrics layer sits below the API; train/ does not import it
    problems = [f"eval.metrics: {unknown_name_message(METRICS.kind, m, METRICS.names())}"
                for m in cfg.eval.metrics if m not in METRICS]
    if cfg.eval.features and cfg.eval.features not in EXTRACTORS:
        unknown = unknown_name_message(EXTRACTORS.kind, cfg.eval.features, EXTRACTORS.names())
        problems.append(f"eval.features: {unknown} (or empty for the data's default)")
    return validate_config(cfg, problems)


def default_run_dir(config: Union[str, RunConfig], cfg: RunConfig) -> Path:
    """A run directory given as the config is its own run directory; otherwise runs/<preset name>.

    The name must be a plain folder name: ``name: /abs/path`` or ``../x`` would train (and clear an unfinished
    start) outside runs/."""
    own = as_run_dir(config)
    if own is not None:
        return own
    name = cfg.name
    if (not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0") or name.startswith("~")
            or len(name) > 200):
        raise GankitError(f"name {name[:80]!r} cannot name a run directory under runs/ (a plain name such as "
                          "my-run, without / or ..); give the run directory with --out DIR")
    return Path("runs") / _named_after_folder(cfg, name)


def _named_after_folder(cfg: RunConfig, name: str) -> str:
    """A folder recipe's run is named after the folder too (runs/folder-64-my-photos), so two projects on one
    preset do not share runs/folder-64."""
    if not cfg.data.path or not dataset_info(cfg.data).folder:
        return name
    base = os.path.basename(os.path.abspath(os.path.expanduser(str(cfg.data.path))))  # no disk access
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")
    return f"{name}-{folder}" if folder else name


def default_hooks(cfg: RunConfig) -> List[Hook]:
    from .artifacts import REPORTS, SampleHook, SummaryHook
    hooks: List[Hook] = [SampleHook()]
    report = dataset_info(cfg.data).report      # e.g. gaussian-1d: the KS/W1 fit at the end
    if report:
        hooks.append(REPORTS.get(report)())
    if cfg.eval.every > 0 and importlib.util.find_spec("gankit.metrics.hook"):
        from .metrics.hook import EvalHook
        hooks.append(EvalHook(cfg.eval))
    if cfg.train.diagnose and importlib.util.find_spec("gankit.diagnose"):
        from .diagnose import DiagnoseHook
        hooks.append(DiagnoseHook())  # all_ranks: its remedies change training on every rank alike
    hooks.append(SummaryHook())
    from .report import ReportHook  # report.html at the end, after the GIF and every final row
    from .tensorboard import TensorBoardHook
    hooks += [ReportHook()] + ([TensorBoardHook()] if cfg.log.tensorboard else [])
    return hooks


def train(config: Union[str, RunConfig], overrides: Sequence[str] = (), out: Optional[str] = None,
          resume: bool = False, allow_change: Iterable[str] = (), hooks: Optional[List[Hook]] = None,
          verbose: bool = True) -> Path:
    """Train a run and return its directory. ``resume`` continues RUN_DIR/checkpoints/latest.pt exactly.

    Under torchrun every process calls this; it joins the process group (gloo on CPU, nccl on CUDA), rank 0 reads
    and writes the run directory, and the ranks train one model with DistributedDataParallel (distributed.py).
    """
    if not isinstance(config, (str, Path, RunConfig)) or not str(config).strip():
        raise GankitError(f"train needs a preset name, a .yaml config file, a run directory or a RunConfig, "
                          f"got {type(config).__name__} {str(config)[:40]!r}")
    overrides = () if overrides is None else overrides
    if not isinstance(overrides, (list, tuple)) or not all(isinstance(o, str) for o in overrides):
        raise GankitError(f"overrides must be a list of 'KEY=VALUE' strings, got {str(overrides)[:60]!r}")
    if out is not None and not isinstance(out, (str, Path)):
        raise GankitError(f"out must be a run directory's path, got {type(out).__name__}")
    cfg = resolve_config(str(config) if isinstance(config, Path) else config, overrides)
    run_dir = Path(out).expanduser() if out else default_run_dir(config, cfg)
    _check_out_of_data(run_dir, cfg)
    try:
        shape = data_shape(cfg.data)
    except GankitError:
        shape = None  # e.g. a folder that is not there: loading the data says so
    if shape is not None:
        check_model_fits(cfg, shape, 5, "this config")  # weights, gradients, two Adam moments, EMA
    dist, owned = distributed.setup(cfg.train.device)
    lock = RunLock(run_dir)  # rank 0 holds it from before the checkpoint is read until training ends
    before: Optional[set] = None  # what the run directory held before a fresh start (None: a resume)
    trainer: Optional[Trainer] = None
    try:
        # rank 0 checks and locks the run directory and reads the checkpoint; every rank gets (cfg, state) or
        # the error
        cfg, state = distributed.main_then_share(
            lambda: _start_or_resume(cfg, run_dir, resume, overrides, allow_change, lock), dist)
        trainer = Trainer(cfg, run_dir, hooks=(hooks if hooks is not None else default_hooks(cfg)),
                          verbose=verbose, dist=dist)
        if state is not None:
            trainer.load_state_dict(state)  # checks every tensor against the live run first (fit_check.py)
        # nothing in the run directory changes before the checkpoint has loaded
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            if state is None:
                RunDir(run_dir).clear_unfinished()  # checked by _check_fresh_start: the same run's partial start
                before = set(run_dir.rglob("*"))
            RunDir(run_dir).truncate_logs(trainer.step)  # rows after the checkpoint will be logged again
            _write_json(RunDir(run_dir).config, cfg.to_dict())
        if state is not None and dist.is_main:
            _report.result(f"resuming {run_dir} at step {trainer.step}/{trainer.total_steps}"
                           + (f" on {dist.world} processes" if dist.enabled else ""), verbose)
        trainer.fit()
    except Exception:
        if before is not None and trainer is not None and trainer.step == 0:
            _remove_failed_start(run_dir, before)  # a start that failed before its first step leaves nothing
        raise
    finally:
        lock.release()
        distributed.cleanup(owned)
    return run_dir


def _start_or_resume(cfg: RunConfig, run_dir: Path, resume: bool, overrides: Sequence[str],
                     allow_change: Iterable[str], lock: Optional[RunLock] = None) -> Tuple[RunConfig, Optional[dict]]:
    """The config to train with and the checkpoint to continue from (None for a fresh run)."""
    check_run_dir(run_dir)
    if lock is not None:
        lock.acquire()  # GankitError naming the process that trains this run now
    rd = RunDir(run_dir)
    ckpt.remove_stale_temps(run_dir, rd.checkpoints)  # partial files of killed runs
    (run_dir / "config.tmp").unlink(missing_ok=True)  # what older versions left after a failed write
    latest = rd.latest
    if not resume:
        if latest.exists():
            raise GankitError(f"{run_dir} already holds a run; continue it with --resume or choose another --out")
        _check_fresh_start(run_dir, cfg)
        return cfg, None
    allowed = set(allow_change)
    unknown = sorted(allowed - set(all_keys()))
    if unknown:
        raise GankitError(f"--allow-change: {unknown_name_message('config key', unknown[0], all_keys())}")
    state = ckpt.load(latest)
    if state["config"].get("name") == cfg.name:  # the same recipe: continue from the run's own settings
        cfg = validate_config(apply_overrides(from_dict(state["config"]), list(overrides)))
    _check_resumable(cfg, state, run_dir, allowed)
    return cfg, state


def _with_defaults(saved: Dict[str, Any]) -> Dict[str, Any]:
    """A saved config with every key the current version knows: a key added since the run was saved takes its
    default, which is what that run did, so it is no change. A config that no longer reads is compared as is."""
    try:
        return from_dict(saved).to_dict()
    except (GankitError, TypeError, AttributeError):
        return saved


def _check_resumable(cfg: RunConfig, state: dict, run_dir: Path, allowed: set) -> None:
    """One GankitError line when the checkpoint cannot continue under ``cfg``: a key that may never change, a
    change not allowed, a folder that moved, or a run already at its horizon."""
    diff = config_diff(_with_defaults(state["config"]), cfg.to_dict())
    fixed = [k for k in diff if k in FIXED_ON_RESUME]
    if fixed:
        key = fixed[0]
        saved, wanted = get_value(from_dict(state["config"]), key), get_value(cfg, key)
        raise GankitError(f"{key} cannot change on resume: the checkpoints of {run_dir} hold {saved}'s state, which "
                          f"{wanted} cannot use; start a new run for it (--out ANOTHER_DIR --set {key}={wanted})")
    changed = [k for k in diff
               if not k.startswith(RESUMABLE) and k not in allowed and k not in ("name", "description")]
    if changed:
        raise GankitError(f"{run_dir} was trained with a different config ({', '.join(changed[:8])} "
                          f"differ{'s' if len(changed) == 1 else ''}); "
                          f"resume with the run's own config (gankit train {run_dir} --resume) or allow the "
                          "change with --allow-change KEY")
    if dataset_info(cfg.data).folder and cfg.data.path and not Path(cfg.data.path).expanduser().is_dir():
        raise GankitError(f"{run_dir} trained on the folder {cfg.data.path}, which is not there any more; give its "
                          f"new place: gankit train {run_dir} --resume --set data.path=DIR --allow-change data.path")
    step, total = state.get("step"), known_total_steps(cfg, state)
    if isinstance(step, int) and total is not None and step >= total:  # nothing to do: say so, exit 2
        horizon = f"train.steps={cfg.train.steps}" if cfg.train.steps > 0 else f"train.epochs={cfg.train.epochs}"
        raise GankitError(f"{run_dir} has already finished: it is at step {step} of {total} ({horizon}), so there "
                          f"is nothing to resume; extend it with gankit train {run_dir} --resume "
                          f"--set train.steps=N (N > {step})")


def check_run_dir(run_dir: Path) -> None:
    """Before anything is written: the run directory is a folder, or can be made, and can be written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"--out {run_dir} is a file, not a folder; give a run directory such as runs/NAME")
    parent = file_in_the_way(run_dir)
    if parent is not None:
        raise GankitError(f"cannot make the run directory {run_dir}: {parent} is a file, not a folder")
    existing = next(p for p in (run_dir, *run_dir.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GankitError(f"cannot write the run directory {run_dir}: {existing} is read-only or not yours; "
                          "choose another --out")


def _check_out_of_data(run_dir: Path, cfg: RunConfig) -> None:
    """A run directory inside the image folder it trains on would be read back as training data on resume."""
    if not (dataset_info(cfg.data).folder and cfg.data.path):
        return
    folder = Path(cfg.data.path).expanduser().resolve()
    where = run_dir.resolve()
    if where == folder or folder in where.parents:
        raise GankitError(f"--out {run_dir} is inside the image folder {cfg.data.path}: its sample grids would "
                          "become training images; write the run outside it (e.g. --out runs/NAME)")


def _check_fresh_start(run_dir: Path, cfg: RunConfig) -> None:
    """A fresh start may only clear what an unfinished start of the same run left (logs and grids, no
    checkpoint, the same config.json); anything else an earlier run wrote is the user's, and refused."""
    rd = RunDir(run_dir)
    steps = rd.step_checkpoints()
    if steps:
        raise GankitError(f"{run_dir} holds the checkpoints of an earlier run ({steps[-1].name}) but no "
                          f"{rd.latest.name}; continue it (cp {steps[-1]} {rd.latest}, then --resume) or choose "
                          "another --out")
    if not rd.unfinished_files():
        return
    reason = "it has no config.json"
    try:
        saved = json.loads(rd.config.read_text(encoding="utf-8"))
        diff = [k for k in config_diff(_with_defaults(saved), cfg.to_dict()) if not k.startswith(RESUMABLE)
                and k not in ("name", "description")] if isinstance(saved, dict) else ["config.json"]
        if not diff:
            return  # the same run, killed before its first checkpoint: its partial logs go
        reason = f"{', '.join(diff[:4])} differ{'s' if len(diff) == 1 else ''}"
    except (OSError, ValueError, RecursionError):
        reason = "its config.json is missing or unreadable" if rd.config.exists() else reason
    raise GankitError(f"{run_dir} holds the logs of another run that saved no checkpoint ({reason}); choose "
                      "another --out, or delete that folder first")


def _remove_failed_start(run_dir: Path, before: set) -> None:
    """Delete what a fresh start made before it failed (files, then the folders it made, deepest first)."""
    made = [p for p in run_dir.rglob("*") if p not in before and p != RunDir(run_dir).lock]
    for p in made:
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)
    for p in sorted((p for p in made if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            p.rmdir()
        except OSError:
            pass


def _write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True)
    ckpt.atomic_write(path, lambda tmp: tmp.write_text(text), needed=len(text))


MAX_GRID = 10000  # images in one .png grid; more go to a .npy file or a folder


def sample(run_dir: Union[str, Path], n: int, out: Union[str, Path], seed: int = 0,
           step: Optional[int] = None, class_name: Optional[str] = None) -> Path:
    """Write n samples: ``.npy`` (float32, the data's scale), ``.png``/``.jpg``/``.webp`` (one grid), or a folder
    of PNGs.
    ``step`` samples an earlier checkpoint that is still kept (checkpoints/step-*.pt) instead of the latest.

    The output path is checked before the run is loaded, and the free disk space before any sample is drawn;
    samples are drawn and written 1 000 at a time, so n is bounded by the disk, not the memory. An interrupted
    write leaves no partial file (nor, for a folder, any of the PNGs it wrote). The noise is what
    ``load_run(run_dir).generate(n, seed)`` draws. A class-conditional run draws ``class_name`` (a class name
    or number), or a .png grid with one row per class when no class is given.
    """
    from . import viz
    check_count(n, "n")
    check_seed(seed)
    out = Path(out).expanduser()
    _check_sample_out(out, n)
    check_not_the_runs_own(out, Path(run_dir).expanduser())
    run = Run(run_dir, step=step)
    labels = sample_labels(run, n, class_name)
    shape = run.sample_shape  # what G draws per sample: (1,) for the 1-D lesson's element-wise G
    if len(shape) != 3 and out.suffix != ".npy":
        raise GankitError(f"{run.cfg.data.name} samples are vectors; write them to a .npy file (--out samples.npy)")
    if out.suffix == ".npy":
        nbytes = n * int(np.prod(shape)) * 4 + 128  # float32 values and the header
        _free_space_for(out, nbytes)
        out.parent.mkdir(parents=True, exist_ok=True)
        ckpt.atomic_write(out, lambda tmp: _write_npy(tmp, run, n, seed, shape, labels), needed=nbytes)
    elif out.suffix.lower() in IMAGE_SUFFIXES and labels is None and run.classes:  # one row per class
        labels, cols = run.class_rows(n)
        save_image(viz.grid(run.generate(len(labels), seed=seed, labels=labels), cols), out)
    elif out.suffix.lower() in IMAGE_SUFFIXES:
        save_image(viz.grid(run.generate(n, seed=seed, labels=labels)), out)
    else:
        # an uncompressed PNG's size bounds what each file can take (zlib never grows it by much)
        _free_space_for(out, n * (int(np.prod(shape)) + shape[-2] + 1024))
        _write_png_folder(out, run, n, seed, labels)
    return out


def sample_labels(run: Run, n: int, class_name: Optional[str]) -> Optional[torch.Tensor]:
    """(n,) labels of the class asked for (by name or number), or None when none is asked; an unknown class, or a
    class asked of a run that has none, is one line."""
    if class_name is None:
        return None
    from .data.labels import class_index
    if not run.classes:
        raise GankitError(f"--class: {run.run_dir} is not class-conditional (it was trained without "
                          "model.conditional=true), so it draws no class on request")
    i = class_index(run.classes, str(class_name))
    if i is None:
        shown = ", ".join(run.classes[:40]) + (", ..." if len(run.classes) > 40 else "")
        raise GankitError(f"--class: {run.run_dir} has no class {str(class_name)[:60]!r}; its classes are {shown} "
                          "(a name or its number from 0)")
    return torch.full((n,), i, dtype=torch.long)


def _write_png_folder(out: Path, run: Run, n: int, seed: int, labels: Optional[torch.Tensor] = None) -> None:
    """n PNGs 000000.png, ...; on any failure or interrupt the files written so far (and the folder, when this
    call made it) are removed."""
    from PIL import Image

    from . import viz
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    try:
        for x in _batches(run, n, seed, labels=labels):
            for img in viz.to_uint8(x):
                path = out / f"{len(written):06d}.png"
                written.append(path)
                Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if made:
            try:
                out.rmdir()
            except OSError:
                pass
        raise


def _check_sample_out(out: Path, n: int) -> None:
    if out.suffix and out.suffix.lower() not in (".npy", *IMAGE_SUFFIXES):
        raise GankitError(f"--out must end in .npy, .png, .jpg or .webp, or be a folder; got {out}")
    if out.exists() and not out.is_dir() and not out.suffix:
        raise GankitError(f"--out {out} is an existing file without an extension; give a .npy, .png, .jpg or .webp "
                          "file, or a folder for PNGs")
    if out.is_dir() and out.suffix:
        raise GankitError(f"--out {out} is a folder; give a file name inside it, such as {out / 'samples.npy'}")
    parent = file_in_the_way(out)
    if parent is not None:
        raise GankitError(f"cannot write {out}: {parent} is a file, not a folder")
    existing = next(p for p in (out.parent, *out.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GankitError(f"cannot write {out}: {existing} is read-only or not yours; choose another --out")
    if out.suffix.lower() in IMAGE_SUFFIXES and n > MAX_GRID:
        raise GankitError(f"a {out.suffix} grid holds at most {MAX_GRID} images, not {n}; write them to a .npy file "
                          "or a folder (--out DIR)")


def _free_space_for(out: Path, needed: int) -> None:
    import shutil
    existing = next(p for p in (out.parent, *out.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise GankitError(f"{out} would take {needed / 2**20:,.0f} MB and {existing} has {free / 2**20:,.0f} MB "
                          "free; ask for fewer samples (--n) or write elsewhere")


def _batches(run: Run, n: int, seed: int, batch: int = 1000,
             labels: Optional[torch.Tensor] = None) -> Iterable[torch.Tensor]:
    """n samples, batch at a time, from one noise stream: the same draws as run.generate(n, seed) (a conditional
    run: of classes ``labels``, default the classes in turn)."""
    if labels is None and run.classes:
        labels = torch.arange(n) % len(run.classes)
    gen = torch.Generator(run.device).manual_seed(check_seed(seed))
    width = 1 if traits_of(run.sampling_model()).elementwise else None
    for i in range(0, n, batch):
        m = min(batch, n - i)
        yield run.generate(m, z=run.noise(m, gen, width), batch=batch,
                           labels=None if labels is None else labels[i:i + m])


def _write_npy(path: Path, run: Run, n: int, seed: int, shape: tuple, labels: Optional[torch.Tensor] = None) -> None:
    """A float32 .npy written batch by batch with plain writes (a full disk is then an OSError; a memory map
    would die of SIGBUS instead)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, *shape)})
        for x in _batches(run, n, seed, labels=labels):
            if tuple(x.shape[1:]) != tuple(shape):  # the header must describe the values that follow
                raise GankitError(f"the generator drew samples of shape {tuple(x.shape[1:])}, not {tuple(shape)}")
            f.write(np.ascontiguousarray(x.numpy(), dtype="<f4").tobytes())
