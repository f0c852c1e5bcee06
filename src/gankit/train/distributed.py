"""Training on several processes with torchrun and DistributedDataParallel (gloo on CPU, nccl on CUDA).

    torchrun --nproc_per_node 2 -m gankit train mnist-dcgan --out runs/ddp          # one machine
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d \\
             --rdzv_endpoint HOST:29500 -m gankit train ...                          # each node (see docs)

How a run is split (so that W processes train what one process with the same global batch trains):

* ``train.batch_size`` stays the *global* batch. Every rank computes the same global batch indices (the data
  order comes from the run's generator, seeded alike) and keeps its own contiguous shard; likewise every rank
  draws the global noise batch and keeps its rows. The data order, noise stream and step count are therefore
  the same at any world size, which is why a checkpoint saved at one world size resumes at another.
* G and D are wrapped in ``DistributedDataParallel``: gradients are averaged over ranks. Losses are means over
  a shard; uneven shards are weighted by ``n_local * W / n_global`` so the average is the global-batch mean.
* Randomness *inside* the networks and augmentations (dropout masks, DiffAugment, instance noise, penalty
  interpolation) runs in a per-rank stream seeded from (seed, step, rank), so shards get independent masks
  and a resumed run draws the same ones again. With one process nothing changes.
* Only rank 0 writes files (config, metrics, events, samples, checkpoints) and shows the progress bar. Logged
  losses are averaged over ranks. Hooks run on rank 0 only unless they set ``all_ranks = True`` (a hook that
  changes training, like the diagnoser's remedies, must run everywhere; its writes go through
  ``trainer.log_row``/``trainer.event``, which only rank 0 performs).
* A stop request (Ctrl-C/SIGTERM on any rank) is agreed on every step, so all ranks stop at the same step and
  rank 0 saves.
* BatchNorm: on CUDA it becomes SyncBatchNorm (statistics over the global batch, as with one process); gloo
  has no SyncBatchNorm, so on the CPU each rank normalises over its own shard (the usual DDP behaviour).

Example (what ``gankit.train`` does):
    >>> dist, owned = setup("auto")        # from torchrun's RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* env
    >>> dist.is_main, dist.world
    (True, 1)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Tuple

import torch
from torch import nn

from ..errors import GankitError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank, world size, local rank (the GPU index on its node)."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Dist()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise GankitError(f"${name} must be a whole number, got {value!r} (set by torchrun)")


def setup(device: str = "auto") -> Tuple[Dist, bool]:
    """Join the process group torchrun describes in the environment; (Dist, whether we created the group).

    Without torchrun (no WORLD_SIZE, or 1) this is a single process and nothing is initialised. An existing
    process group (initialised by the caller) is used as it is.
    """
    import torch.distributed as td
    if td.is_available() and td.is_initialized():
        return current(), False
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE, False
    if not td.is_available():
        raise GankitError("this PyTorch build has no torch.distributed; run without torchrun")
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise GankitError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                              "use --nproc_per_node <= the number of GPUs per node")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    kwargs: Dict[str, Any] = {"device_id": torch.device("cuda", local_rank)} if cuda else {}
    td.init_process_group(backend, rank=rank, world_size=world, **kwargs)
    return Dist(rank, world, local_rank), True


def current() -> Dist:
    """The Dist of an already initialised default process group (SINGLE when there is none)."""
    import torch.distributed as td
    if not (td.is_available() and td.is_initialized()) or td.get_world_size() == 1:
        return SINGLE
    return Dist(td.get_rank(), td.get_world_size(), _env_int("LOCAL_RANK", 0))


def cleanup(owned: bool) -> None:
    """Leave the process group if ``setup`` created it."""
    import torch.distributed as td
    if owned and td.is_initialized():
        td.destroy_process_group()


def device_for(dist: Dist, device: torch.device) -> torch.device:
    """Each rank of a CUDA run uses the GPU of its local rank."""
    if dist.enabled and device.type == "cuda":
        return torch.device("cuda", dist.local_rank)
    return device


# ---- sharding -------------------------------------------------------------------------------------------------
def shard_bounds(n: int, dist: Dist, unit: int = 1) -> Tuple[int, int]:
    """[start, end) of this rank's share of n rows, cut in whole units (PacGAN packs stay together).

    >>> shard_bounds(10, Dist(1, 3))
    (4, 7)
    """
    units = n // unit
    lo = (units * dist.rank) // dist.world * unit
    hi = (units * (dist.rank + 1)) // dist.world * unit if dist.rank < dist.world - 1 else n
    return lo, hi


def shard(x: torch.Tensor, dist: Dist, unit: int = 1) -> torch.Tensor:
    """This rank's contiguous rows of a global batch (the whole batch with one process)."""
    if not dist.enabled:
        return x
    lo, hi = shard_bounds(len(x), dist, unit)
    return x[lo:hi]


def check_batch(batch_size: int, n_items: int, dist: Dist, unit: int = 1) -> None:
    """Every rank must get at least one unit of every batch, the epoch's last (shorter) one included."""
    if not dist.enabled:
        return
    sizes = [batch_size] + ([n_items % batch_size] if n_items % batch_size else [])
    for b in sizes:
        if b // unit < dist.world:
            raise GankitError(f"a batch of {b} images cannot be shared by {dist.world} processes "
                              f"(at least {unit * dist.world} needed); raise train.batch_size or use fewer "
                              "processes (--nproc_per_node)")


def loss_weight(n_local: int, n_global: int, dist: Dist) -> float:
    """Factor on a rank's mean loss so that DDP's average over ranks is the global-batch mean."""
    return n_local * dist.world / n_global if dist.enabled else 1.0


# ---- DDP wrapping ---------------------------------------------------------------------------------------------
def sync_batchnorm(module: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """BatchNorm -> SyncBatchNorm on CUDA with several ranks (gloo/CPU has none: left as is)."""
    if dist.enabled and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module


def wrap(module: nn.Module, dist: Dist, device: torch.device, grows: bool = False) -> nn.Module:
    """DistributedDataParallel around a module (the module itself with one process).

    The Trainer calls the wrapper only where this net's gradients are wanted (D in the D step, G in the G step)
    and the bare module elsewhere (frozen D in the G step, G under no_grad in the D step), so DDP's reducer
    sees exactly one backward per forward it prepared. A growing network (progressive growing) leaves the
    blocks above its current level out of the step: ``grows`` has DDP look for the unused parameters after
    each forward (they keep no gradient, as in one process, so the optimizer leaves them alone).
    """
    if not dist.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, output_device=device.index if ids else None,   # buffers follow rank 0
               find_unused_parameters=grows)


# ---- agreement between ranks ----------------------------------------------------------------------------------
def all_mean(values: Dict[str, float], dist: Dist) -> Dict[str, float]:
    """Average each logged value over ranks (every rank must call this at the same step with the same keys)."""
    if not dist.enabled or not values:
        return values
    import torch.distributed as td
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    td.all_reduce(t)
    return {k: float(v) / dist.world for k, v in zip(keys, t.tolist())}


def mean_scalar(x: torch.Tensor, dist: Dist) -> float:
    """A scalar averaged over ranks, as a float (the D loss behind d_skip_below)."""
    if not dist.enabled:
        return float(x.detach())
    import torch.distributed as td
    t = x.detach().float().reshape(1).to(_comm_device())
    td.all_reduce(t)
    return float(t) / dist.world


def any_rank(flag: bool, dist: Dist) -> bool:
    """True on every rank when it is True on one (stop requests)."""
    if not dist.enabled:
        return flag
    import torch.distributed as td
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device())
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item() > 0)


def main_then_share(fn: Callable[[], Any], dist: Dist) -> Any:
    """Run fn on rank 0 only and hand its result (or its GankitError) to every rank.

    Rank 0 reads the run directory and the checkpoint; the others need no shared filesystem.
    """
    if not dist.enabled:
        return fn()
    import torch.distributed as td
    box: list = [None]
    if dist.is_main:
        try:
            box[0] = ("ok", fn())
        except GankitError as e:
            box[0] = ("error", str(e))
    td.broadcast_object_list(box, src=0, device=_comm_device())
    kind, value = box[0]
    if kind == "error":
        raise GankitError(value)
    return value


@contextlib.contextmanager
def main_first(dist: Dist) -> Iterator[None]:
    """The first process of each node runs the block first (e.g. fills the node's data cache), then the rest."""
    if not dist.enabled:
        yield
        return
    import torch.distributed as td
    if dist.local_rank != 0:
        td.barrier()
    yield
    if dist.local_rank == 0:
        td.barrier()


def _comm_device() -> torch.device:
    import torch.distributed as td
    return torch.device("cuda", torch.cuda.current_device()) if td.get_backend() == "nccl" else torch.device("cpu")


# ---- per-rank randomness --------------------------------------------------------------------------------------
@contextlib.contextmanager
def rank_stream(dist: Dist, seed: int, step: int, salt: int, device: torch.device) -> Iterator[None]:
    """Inside: torch's default generators seeded from (seed, step, salt, rank); outside: untouched.

    Used around the networks' forward passes with several ranks, so dropout masks and augmentations differ
    between shards while the shared streams (noise, data order) stay identical on every rank.
    """
    if not dist.enabled:
        yield
        return
    digest = hashlib.sha256(f"{seed}/{step}/{salt}/{dist.rank}".encode()).digest()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int.from_bytes(digest[:8], "little") & (2 ** 63 - 1))
        yield


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (itself otherwise)."""
    return getattr(module, "module", module)


__all__ = ["Dist", "SINGLE", "setup", "current", "cleanup", "device_for", "shard", "shard_bounds", "check_batch",
           "loss_weight", "sync_batchnorm", "wrap", "all_mean", "mean_scalar", "any_rank", "main_then_share",
           "main_first", "rank_stream", "unwrap"]
