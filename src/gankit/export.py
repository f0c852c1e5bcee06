"""A trained generator as a file to share: ONNX, TorchScript, or safetensors weights, each with its metadata.

The file holds the generator alone (the EMA copy when the run keeps one; a multi-scale G gives its finest image),
in fp32 on the CPU, as a function ``z (B, latent) -> images (B, C, H, W)`` in [-1, 1] (vectors (B, D) in the
data's scale for the toy sets). The metadata (``generator_metadata``) says how to call it and read its output:
latent size and noise, classes, output shape, range and the pixel formula, resolution, the run and step.

Where the metadata lives:
    .onnx         ``metadata_props``: the key ``gankit`` holds all of it as JSON (every field also on its own key)
    .pt           TorchScript with the extra file ``gankit.json``
    .safetensors  the generator's weights (no code), the JSON under the header's ``__metadata__["gankit"]``

Example:
    >>> export("runs/mnist", "mnist.onnx")                     # PosixPath('mnist.onnx')
    >>> meta = read_metadata("mnist.onnx"); meta["latent_dim"], meta["output_shape"]
    (64, [1, 28, 28])
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from .data import dataset_info
from .errors import GankitError, file_in_the_way
from .models import MODELS
from .models.pyramid import finest
from .models.traits import traits_of
from .run import Run
from .rundir import RunDir
from .train import checkpoint as ckpt

FORMATS = (".onnx", ".pt", ".safetensors")
FORMAT_VERSION = 1
# Which packages each format needs (install name, import name).
NEEDS = {".onnx": (("onnx", "onnx"), ("onnxscript", "onnxscript")), ".pt": (), ".safetensors": (("safetensors", "safetensors"),)}


class Exported(nn.Module):
    """G as the file's function: ``z (B, latent) -> (B, C, H, W)`` (a multi-scale G's finest image).

    ``labels`` (B,) int64 is passed on to a class-conditional G; an unconditional G takes z alone."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.G(z) if labels is None else self.G(z, labels)
        return finest(out).float()


def _classes(run: Run) -> list:
    """Class names of a class-conditional run; [] for an unconditional one."""
    names = getattr(run, "classes", None) or []
    return [str(c) for c in names]


def generator_metadata(run: Run) -> Dict[str, Any]:
    """What a program needs to call the exported generator and turn its output into pictures."""
    from . import __version__
    G = run.sampling_model()
    run_classes = _classes(run)
    elementwise = traits_of(G).elementwise
    shape = [int(d) for d in run.data_shape]
    image = dataset_info(run.cfg.data).kind == "image" and len(shape) == 3
    meta: Dict[str, Any] = {
        "format": "gankit-generator", "format_version": FORMAT_VERSION, "gankit_version": __version__,
        "run": run.cfg.name, "dataset": run.cfg.data.name, "model": run.cfg.model.name, "step": int(run.step),
        "weights": "ema" if run.G_ema is not None else "generator",
        "inputs": ["z", "labels"] if run_classes else ["z"],
        "latent_dim": 1 if elementwise else int(run.cfg.model.latent_dim),
        "noise": run.cfg.model.noise,
        "noise_help": ("z ~ N(0, 1), float32" if run.cfg.model.noise == "normal" else "z ~ U[0, 1), float32"),
        "classes": run_classes,
        "labels_help": "labels (B,) int64: the index of each sample's class in classes" if run_classes else None,
        "output": "images" if image else "samples",
        "output_shape": [1] if elementwise else shape, "kind": "image" if image else "vector",
        "resolution": shape[-1] if image else None, "channels": shape[0] if image else None,
        "output_range": [-1.0, 1.0] if image else None,
        "to_pixels": ("uint8 = round((x + 1) * 127.5) clipped to 0..255; (N, C, H, W) -> (N, H, W, C)" if image
                      else "the data's own scale"),
        "precision": "fp32", "trained_precision": run.cfg.train.precision,
        "model_config": asdict(run.cfg.model),
    }
    return meta


def check_out(out: Path) -> str:
    """The format of ``out`` (its extension), or one line about what is wrong with it."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise GankitError(f"--out must end in .onnx (ONNX), .pt (TorchScript) or .safetensors (weights), got {out}")
    if out.is_dir():
        raise GankitError(f"--out {out} is a folder; give a file name such as {out / ('model' + suffix)}")
    parent = file_in_the_way(out)
    if parent is not None:
        raise GankitError(f"cannot write {out}: {parent} is a file, not a folder")
    missing = [pip for pip, mod in NEEDS[suffix] if not _importable(mod)]
    if missing:
        raise GankitError(f"writing {suffix} files needs {' and '.join(missing)}: pip install {' '.join(missing)}")
    return suffix


def _importable(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def load_for_export(run_dir: Union[str, Path], step: Optional[int] = None) -> Run:
    """The run on the CPU; a run without a checkpoint is one line."""
    run_dir = Path(run_dir)
    rd = RunDir(run_dir)
    if rd.is_run() and step is None and not rd.latest.is_file():
        raise GankitError(f"{run_dir} has no checkpoint yet ({rd.latest}); train it first, or "
                          f"continue it: gankit train {run_dir} --resume")
    return Run(run_dir, device="cpu", step=step)


def export(run_dir: Union[str, Path], out: Union[str, Path], step: Optional[int] = None) -> Path:
    """Write the run's generator (EMA when kept) to ``out``: .onnx, .pt (TorchScript) or .safetensors."""
    out = Path(out).expanduser()
    check_out(out)                           # a wrong extension or a folder: one line before loading
    run = load_for_export(run_dir, step)
    info = MODELS.info(run.cfg.model.name)
    if info.translates:
        raise GankitError(f"{run.cfg.model.name} translates images (its input is an image, not a latent); export "
                          "writes latent-to-image generators only")
    return write_generator(run.sampling_model(), generator_metadata(run), out)


def write_generator(G: nn.Module, meta: Dict[str, Any], out: Path) -> Path:
    """Write G (as ``Exported``, fp32, CPU, eval mode) with ``meta`` to ``out`` in the format its extension names;
    the file appears whole or not at all."""
    suffix = check_out(out)
    model = Exported(G.float().cpu()).eval()
    writer = {".onnx": _write_onnx, ".pt": _write_torchscript, ".safetensors": _write_safetensors}[suffix]
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt.atomic_write(out, lambda tmp: writer(model, meta, tmp))
    return out


def example_input(meta: Dict[str, Any], n: int = 2, seed: int = 0) -> torch.Tensor:
    """(n, latent) noise as the metadata describes it."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, meta["latent_dim"])
    return torch.randn(shape, generator=g) if meta["noise"] == "normal" else torch.rand(shape, generator=g)


def example_inputs(meta: Dict[str, Any], n: int = 2, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """The file's inputs: (z,), or (z, labels (n,) int64) for a class-conditional generator."""
    z = example_input(meta, n, seed)
    return (z, torch.arange(n) % len(meta["classes"])) if meta["classes"] else (z,)


def _write_onnx(model: Exported, meta: Dict[str, Any], path: Path) -> None:
    import onnx
    inputs = example_inputs(meta)
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    names = ["z", "labels"][:len(inputs)]
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its notes about torchvision ops, which a generator never uses
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own deprecations inside the exporter
            warnings.filterwarnings("ignore", message=".*axis name")  # z and labels share one batch axis
            torch.onnx.export(model, inputs, str(path), input_names=names, output_names=[meta["output"]],
                              dynamic_shapes=tuple({0: batch} for _ in inputs), dynamo=True, verbose=False,
                              external_data=False)
    finally:
        quiet.setLevel(level)
    proto = onnx.load(str(path))
    props = {"gankit": json.dumps(meta, sort_keys=True)}
    props.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items() if k != "model_config"})
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = f"gankit generator: {meta['run']} at step {meta['step']} ({meta['weights']} weights)"
    onnx.save(proto, str(path))


def _write_torchscript(model: Exported, meta: Dict[str, Any], path: Path) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(model, example_inputs(meta), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"gankit.json": json.dumps(meta, sort_keys=True)})


def _write_safetensors(model: Exported, meta: Dict[str, Any], path: Path) -> None:
    from safetensors.torch import save
    tensors = {k: v.detach().float().contiguous().clone() if v.is_floating_point() else v.contiguous().clone()
               for k, v in model.G.state_dict().items()}
    path.write_bytes(save(tensors, metadata={"gankit": json.dumps(meta, sort_keys=True), "format": "pt"}))


def read_metadata(path: Union[str, Path]) -> Dict[str, Any]:
    """The metadata of an exported file (any of the three formats)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise GankitError(f"{path} does not exist")
    if suffix == ".onnx":
        import onnx
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        text = props.get("gankit")
    elif suffix == ".pt":
        extra = {"gankit.json": ""}
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        text = extra["gankit.json"]
    elif suffix == ".safetensors":
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get("gankit")
    else:
        raise GankitError(f"{path} is not an exported generator (.onnx, .pt or .safetensors)")
    if not text:
        raise GankitError(f"{path} holds no gankit metadata")
    return json.loads(text)


def describe(path: Path, meta: Dict[str, Any]) -> str:
    """One line about an exported file."""
    size = path.stat().st_size / 1e6
    shape = "x".join(str(d) for d in meta["output_shape"])
    what = f"{shape} images in [-1, 1]" if meta["kind"] == "image" else f"{shape} vectors"
    classes = f", {len(meta['classes'])} classes" if meta["classes"] else ""
    weights = "EMA generator" if meta["weights"] == "ema" else "generator"
    return (f"wrote {path} ({size:.1f} MB): the {weights} of {meta['run']} at step {meta['step']}, "
            f"z of {meta['latent_dim']} ({meta['noise']}){classes} -> {what}")

