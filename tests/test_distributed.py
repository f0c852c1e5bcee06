"""torchrun / DistributedDataParallel (gloo on CPU), and the reduced-precision CPU fast path (fastpath.py).

The end-to-end test launches ``torchrun --standalone --nproc_per_node 2 -m gankit train`` on tiny MNIST files:
2 processes must end with the parameters one process reaches with the same global batch (fp32 tolerance), only
rank 0 may write, and the 2-process checkpoint must resume in one process.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gankit import api
from gankit.train import distributed
from gankit.train.checkpoint import load
from gankit.train.distributed import Dist
from gankit.train.fastpath import FastDropout, use_fast_dropout

# batch 15 over 2 ranks: shards of 7 and 8 (weighted losses), and the epoch's last batch (64 % 15 = 4) is 2 + 2;
# no dropout, so one process and two draw the same randomness; R1 exercises a double backward under DDP
DDP_RUN = ["log.progress=false", "train.batch_size=15", "model.g_hidden=[32]", "model.d_hidden=[32]",
           "model.d_dropout=0", "loss.r1=0.5", "checkpoint.every=3", "checkpoint.keep=5", "log.every=2",
           "sample.every=0", "train.threads=1", "train.steps=6"]


def weights(run: Path, name: str = "latest.pt"):
    s = load(run / "checkpoints" / name)
    return {f"{net}.{k}": v for net in ("G", "D") for k, v in s[net].items()}


def assert_close(a, b, tol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=tol, atol=tol), (k, float((a[k] - b[k]).abs().max()))


def torchrun_train(preset: str, out: Path, sets) -> None:
    """`torchrun --standalone --nproc_per_node 2 -m gankit train PRESET --out OUT --set ...`, one thread each."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gankit", "train", preset, "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_two_gloo_processes_match_one_process_and_resume_in_one(tiny_mnist, tmp_path):
    sets = DDP_RUN + [f"data.root={tiny_mnist}"]
    torchrun_train("mnist-mlp", tmp_path / "ddp", sets)
    single = api.train("mnist-mlp", sets, out=str(tmp_path / "one"), verbose=False)
    ddp = tmp_path / "ddp"
    assert_close(weights(ddp), weights(single))
    # rank 0 alone wrote: each logged step once, one progress bar's worth of output
    steps = [json.loads(line)["step"] for line in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]
    # the step-3 checkpoint written by 2 processes continues in 1 to the same end
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    shutil.copy(ddp / "checkpoints" / "step-0000003.pt", resumed / "checkpoints" / "latest.pt")
    shutil.copy(ddp / "config.json", resumed / "config.json")
    api.train(str(resumed), [], out=str(resumed), resume=True, verbose=False)
    assert load(resumed / "checkpoints" / "latest.pt")["step"] == 6
    assert_close(weights(resumed), weights(single))


def test_shards_cover_the_batch_in_whole_units():
    for n, world, unit in [(15, 2, 1), (4, 2, 1), (64, 3, 4), (10, 3, 1), (512, 8, 2)]:
        bounds = [distributed.shard_bounds(n, Dist(r, world), unit) for r in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))       # contiguous, no overlap
        assert all((hi - lo) % unit == 0 for lo, hi in bounds[:-1])         # packs stay whole
        v = torch.rand(n, dtype=torch.float64)  # DDP's average of the weighted shard means is the batch mean
        ddp = sum(distributed.loss_weight(hi - lo, n, Dist(r, world)) * v[lo:hi].mean()
                  for r, (lo, hi) in enumerate(bounds)) / world
        assert float(ddp) == pytest.approx(float(v.mean()))
    x = torch.arange(15)
    assert torch.equal(torch.cat([distributed.shard(x, Dist(r, 2)) for r in range(2)]), x)
    assert distributed.shard(x, distributed.SINGLE) is x


def test_batches_too_small_to_share_are_refused():
    from gankit.errors import GankitError
    distributed.check_batch(16, 64, Dist(0, 2))
    with pytest.raises(GankitError, match="cannot be shared by 4 processes"):
        distributed.check_batch(16, 66, Dist(0, 4))  # the last batch of the epoch holds 2 images
    with pytest.raises(GankitError, match="train.batch_size"):
        distributed.check_batch(6, 60, Dist(0, 2), unit=4)


def test_rank_streams_differ_per_rank_and_step_and_leave_the_shared_stream_alone():
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    before = torch.get_rng_state()
    draws = {}
    for rank in (0, 1):
        for step in (5, 6):
            with distributed.rank_stream(Dist(rank, 2), 0, step, "d0", cpu):
                draws[rank, step] = torch.rand(4)
            assert torch.equal(torch.get_rng_state(), before)  # the shared (noise) stream is untouched
    assert len({tuple(v.tolist()) for v in draws.values()}) == 4
    with distributed.rank_stream(Dist(1, 2), 0, 5, "d0", cpu):
        assert torch.equal(torch.rand(4), draws[1, 5])  # reproducible: a resumed run draws the same masks
    with distributed.rank_stream(distributed.SINGLE, 0, 5, "d0", cpu):
        torch.rand(1)
    assert not torch.equal(torch.get_rng_state(), before)  # one process: the ordinary stream, as before


def test_fast_dropout_keeps_1_minus_p_and_routes_gradients_through_the_mask():
    torch.manual_seed(0)
    layer = FastDropout(0.3)
    for dtype in (torch.bfloat16, torch.float32):
        x = torch.ones(999, 1001, dtype=dtype, requires_grad=True)  # odd count: the last word is half used
        y = layer(x)
        assert y.dtype == dtype and y.shape == x.shape
        assert abs(float((y != 0).float().mean()) - 0.7) < 3e-3
        assert torch.allclose(y[y != 0].float(), torch.tensor(1 / 0.7), rtol=1e-2)
        y.float().sum().backward()
        assert torch.equal(x.grad, y.detach())
    layer.p = 0.5  # a remedy may change p while training
    assert abs(float((layer(torch.ones(10000)) != 0).float().mean()) - 0.5) < 0.03
    layer.eval()
    x = torch.randn(8)
    assert torch.equal(layer(x), x)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.2), torch.nn.Sequential(torch.nn.Dropout(0.1)))
    keys = list(net.state_dict())
    assert use_fast_dropout(net) == 2 and list(net.state_dict()) == keys
    assert all(isinstance(m, torch.nn.Dropout) for m in (net[1], net[2][0]))


@pytest.mark.parametrize("preset", ["mnist-mlp", "mnist-dcgan"])
def test_bf16_fast_path_resumes_bit_identically(preset, tiny_mnist, tmp_path):
    small = (["model.g_hidden=[32]", "model.d_hidden=[32]"] if preset == "mnist-mlp"
             else ["model.g_channels=8", "model.d_channels=8"])
    opts = small + ["log.progress=false", "sample.every=0", "train.batch_size=16", "train.threads=1",
                    "train.precision=bf16", "checkpoint.every=100", f"data.root={tiny_mnist}", "train.diagnose=false"]
    straight = api.train(preset, opts + ["train.steps=6"], out=str(tmp_path / "a"), verbose=False)
    half = api.train(preset, opts + ["train.steps=3"], out=str(tmp_path / "b"), verbose=False)
    api.train(preset, ["train.steps=6"], out=str(half), resume=True, verbose=False)
    a, b = weights(straight), weights(half)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_progressive_growing_under_two_gloo_processes(tiny_mnist, tmp_path):
    """DDP with a growing msg network: the blocks above the current level are left out of the step. The two
    processes go through the same schedule as one, and keep the unused parameters as one process does: no
    gradient, so no optimizer state for them (mbstd sees each rank's shard, so the weights are a valid draw
    of their own, not the 1-process twin)."""
    from test_progressive import OPTS
    sets = OPTS + [f"data.root={tiny_mnist}", "train.steps=10", "checkpoint.every=1", "checkpoint.keep=20"]
    torchrun_train("mnist-dcgan", tmp_path / "ddp", sets)
    single = api.train("mnist-dcgan", sets, out=str(tmp_path / "one"), verbose=False)
    for step in (1, 5, 10):   # 4x4 only; 8x8 fading in; 16x16 half in
        name = f"step-{step:07d}.pt"
        a, b = load(tmp_path / "ddp" / "checkpoints" / name), load(single / "checkpoints" / name)
        assert a["progressive"] == b["progressive"]
        for opt in ("opt_g", "opt_d"):
            assert sorted(a[opt]["state"]) == sorted(b[opt]["state"]), (step, opt)
        assert all(torch.isfinite(v).all() for v in a["G"].values())
    first = load(tmp_path / "ddp" / "checkpoints" / "step-0000001.pt")
    n_params = len(first["opt_g"]["param_groups"][0]["params"])
    assert 0 < len(first["opt_g"]["state"]) < n_params        # at 4x4 the finer blocks had no gradient
