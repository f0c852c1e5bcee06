"""Progressive growing on the msg family (train/progressive.py, models/msg.py): the fade-in schedule, the growing
networks' shapes and fades, the real pyramid D sees, exact resume mid-fade, the position in checkpoints, log
rows and loaded runs, and the config checks."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gankit import api
from gankit.config import ModelConfig, RunConfig
from gankit.errors import GankitError
from gankit.models import MODELS, build_models
from gankit.models.pyramid import finest, levels_for, pyramid
from gankit.run import load_run
from gankit.train.checkpoint import load
from gankit.train.gan_loss import GANLoss
from gankit.train.progressive import Position, full_size_kimg, growing_models, schedule
from gankit.train.trainer import Trainer


def _nets(r: int, c: int = 3):
    torch.manual_seed(0)
    return build_models(ModelConfig(name="msg", latent_dim=16, g_channels=8, d_channels=8, max_channels=32),
                        (c, r, r))


def up(x: torch.Tensor, k: int = 1) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2 ** k, mode="nearest")


# ---- the schedule ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("images,res,alpha", [
    (0, 8, 1.0), (9_999, 8, 1.0),                     # 8x8 held for 10 kimg
    (10_000, 16, 0.0), (12_500, 16, 0.25), (17_500, 16, 0.75),  # 16 fades in over 10 kimg
    (20_000, 16, 1.0), (29_999, 16, 1.0),             # and is held for 10
    (30_000, 32, 0.0), (35_000, 32, 0.5), (45_000, 32, 1.0),
    (55_000, 64, 0.5), (60_000, 64, 1.0), (10 ** 9, 64, 1.0),  # the full size stays
])
def test_schedule_fades_each_resolution_in_then_holds_it(images, res, alpha):
    pos = schedule(images, start=8, final=64, fade_kimg=10, stable_kimg=10)
    assert (pos.resolution, pos.alpha) == (res, pytest.approx(alpha, abs=1e-12))


def test_schedule_over_time_is_monotone_and_ends_at_full_size():
    seen = [schedule(i * 250, 8, 128, 4, 6) for i in range(400)]      # 0 .. 100 kimg
    keys = [(p.level, p.alpha) for p in seen]
    assert keys == sorted(keys)                                       # never steps back
    assert [p.resolution for p in seen if p.alpha == 0.0] == [16, 32, 64, 128]  # each fade starts at 0
    assert {p.resolution for p in seen} == {8, 16, 32, 64, 128}
    assert full_size_kimg(8, 128, 4, 6) == 40                         # 6 + 4 + 3 * (6 + 4)
    assert schedule(39_999, 8, 128, 4, 6) != Position(5, 1.0) == schedule(40_000, 8, 128, 4, 6)
    assert seen[-1] == Position(levels_for(128) - 1, 1.0)


def test_schedule_edge_cases():
    assert schedule(5_000, 8, 32, fade_kimg=0, stable_kimg=4) == Position(2, 1.0)  # no fade: a switch
    assert schedule(0, 8, 32, fade_kimg=0, stable_kimg=0) == Position(3, 1.0)      # nothing to grow through
    assert schedule(0, 8, 32, fade_kimg=2, stable_kimg=0) == Position(2, 0.0)      # fades from the start
    assert schedule(7_000, 32, 32, 1, 1) == Position(3, 1.0)                       # starting at full size
    assert schedule(0, 4, 16, 1, 1) == Position(0, 1.0)                            # from 4x4


# ---- the networks ------------------------------------------------------------------------------------------
def _called(modules):
    calls = []
    for i, m in enumerate(modules):
        m.register_forward_hook(lambda mod, inp, out, i=i: calls.append(i))
    return calls


@pytest.mark.parametrize("r", [32, 64, 128])
def test_growing_shapes_and_what_is_computed(r):
    G, D = _nets(r)
    n = levels_for(r)
    z = torch.randn(4, 16)
    g_blocks, d_blocks, d_rgb = _called(G.blocks), _called(D.blocks), _called(D.from_rgb)
    for top, alpha in [(1, 1.0), (2, 0.5), (n - 1, 0.25), (n - 1, 1.0)]:
        G.set_lod(top, alpha), D.set_lod(top, alpha)
        g_blocks.clear(), d_blocks.clear(), d_rgb.clear()
        out = G(z)
        assert [tuple(o.shape) for o in out] == [(4, 3, 4 << i, 4 << i) for i in range(n)]  # the list keeps its length
        assert sorted(g_blocks) == list(range(top + 1))               # nothing above the level trained
        for k in range(top + 1, n):                                   # finer entries: the top image upsampled
            assert torch.equal(out[k], up(out[top], k - top))
        logits = D(out)
        assert logits.shape == (4,) and torch.isfinite(logits).all()
        assert sorted(d_blocks) == list(range(top)) and sorted(d_rgb) == list(range(top + 1))
        assert torch.equal(D(out[:top + 1]), logits)                  # D reads the first top + 1 only
        real = torch.rand(4, 3, r, r) * 2 - 1
        assert torch.equal(D(real), D(D.grow(pyramid(real, n))))      # a tensor is shown as at this position
        assert finest(out).shape == (4, 3, r, r)
    with pytest.raises(GankitError, match="sizes"):
        D([torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 16, 16)])


def test_the_new_level_fades_in_over_the_upsampled_one():
    G, D = _nets(32)
    z = torch.randn(4, 16)
    G.set_lod(2, 1.0)
    new = G(z)[2]                                                     # toRGB of the new 16x16 block (tanh)
    G.set_lod(2, 0.3)
    out = G(z)
    assert torch.allclose(out[2], 0.3 * new + 0.7 * up(out[1]), atol=1e-6)
    assert torch.equal(out[3], up(out[2]))
    assert out[2].abs().max() <= 1


@pytest.mark.parametrize("top", [1, 2, 3])
def test_alpha_zero_is_exactly_the_network_of_the_level_before(top):
    G, D = _nets(32)
    z = torch.randn(8, 16)
    G.set_lod(top - 1, 1.0), D.set_lod(top - 1, 1.0)
    before_out = G(z)
    before_d = D(before_out)
    G.set_lod(top, 0.0), D.set_lod(top, 0.0)
    out = G(z)
    assert all(torch.equal(a, b) for a, b in zip(out, before_out))   # the list is the same images
    assert torch.allclose(D(out), before_d, rtol=0, atol=1e-6)        # the new path enters at weight 0
    G.set_lod(top, 0.5), D.set_lod(top, 0.5)
    assert not torch.allclose(D(G(z)), before_d)                      # and does something once alpha > 0


def test_full_size_at_alpha_one_is_the_plain_network_with_the_same_weights():
    G, D = _nets(64)
    G0, D0 = _nets(64)                                                # never grown
    G.set_lod(1, 1.0), D.set_lod(1, 1.0)
    assert G.state_dict().keys() == G0.state_dict().keys()            # growing adds no parameter
    z = torch.randn(8, 16)
    G(z), D(G(z))
    G.set_lod(4, 1.0), D.set_lod(4, 1.0)                              # the last level, faded in
    for p, q in zip(list(G.parameters()) + list(D.parameters()), list(G0.parameters()) + list(D0.parameters())):
        assert torch.equal(p, q)
    out, out0 = G(z), G0(z)
    assert all(torch.equal(a, b) for a, b in zip(out, out0))
    assert torch.equal(D(out), D0(out0))
    real = torch.rand(8, 3, 64, 64)
    assert torch.equal(D(real), D0(real))


def test_set_lod_checks_its_arguments():
    G, D = _nets(32)
    for level, alpha in [(4, 1.0), (-1, 1.0), (1, 1.5), (0, 0.5), (1.0, 1.0)]:
        with pytest.raises(GankitError, match="set_lod"):
            G.set_lod(level, alpha)
    G.set_lod()
    assert G.lod == (3, 1.0) and not G.growing


def test_growing_model_table_matches_the_builders():
    vectors = {"toy-mlp": (2,), "toy-1d": (100,)}
    for name in MODELS.names():
        shape = vectors.get(name, (3, 32, 32))
        G, D = build_models(ModelConfig(name=name, g_hidden=[8], d_hidden=[8], g_channels=8, d_channels=8,
                                        task="superres" if name == "pix2pix" else ""), shape)
        assert (hasattr(G, "set_lod") and hasattr(D, "set_lod")) == (name in growing_models()), name


# ---- what D is shown ---------------------------------------------------------------------------------------
def test_real_pyramid_is_shown_as_g_makes_it():
    G, D = _nets(32)
    cfg = RunConfig()
    cfg.model.name = "msg"
    loss = GANLoss(cfg, G, D, device=torch.device("cpu"))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    plain = loss.d_view(x)
    assert all(torch.equal(a, b) for a, b in zip(plain, pyramid(x, 4)))  # not growing: the pooled pyramid
    D.set_lod(2, 0.25)
    view = loss.d_view(x)
    p16, p8 = F.avg_pool2d(x, 2), F.avg_pool2d(x, 4)                     # 16 and 8 px
    assert torch.allclose(view[2], 0.25 * p16 + 0.75 * up(p8), atol=1e-6)  # faded like G's image
    assert torch.allclose(view[1], p8) and torch.allclose(view[0], F.avg_pool2d(x, 8))
    assert torch.equal(view[3], up(view[2]))                             # down, then up again
    assert len(loss.d_reads(view)) == 3 and loss.d_reads(x) is x


# ---- training ----------------------------------------------------------------------------------------------
# 16 px, batch 8: 4x4 held 2 steps, 8x8 fades in over steps 2-5, held 6-7, 16x16 fades in over 8-11, then stays
OPTS = ["log.progress=false", "sample.every=0", "train.threads=1", "log.every=1", "model.name=msg",
        "data.resolution=16", "model.g_channels=4", "model.d_channels=4", "model.max_channels=16",
        "model.latent_dim=16", "train.batch_size=8", "train.progressive=true", "train.pg_start=4",
        "train.pg_fade_kimg=0.032", "train.pg_stable_kimg=0.016", "loss.r1=0.1", "train.ema=0.01",
        "train.pg_fit=false"]   # the configured lengths (fitting to short runs: test_short_runs_*)


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_mid_fade_is_bit_identical(tiny_mnist, tmp_path):
    opts = OPTS + [f"data.root={tiny_mnist}", "checkpoint.every=5", "checkpoint.keep=5"]
    n = 5                                                             # 40 images: 8x8 three quarters in
    straight = api.train("mnist-dcgan", opts + [f"train.steps={2 * n}"], out=str(tmp_path / "a"), verbose=False)
    half = api.train("mnist-dcgan", opts + [f"train.steps={n}"], out=str(tmp_path / "b"), verbose=False)
    mid = load(half / "checkpoints" / "latest.pt")
    assert mid["progressive"] == {"images": 40, "level": 1, "resolution": 8, "alpha": 0.75,
                                  "fade_kimg": 0.032, "stable_kimg": 0.016}
    assert load(straight / "checkpoints" / "step-0000005.pt")["progressive"] == mid["progressive"]
    api.train("mnist-dcgan", [f"train.steps={2 * n}"], out=str(half), resume=True, verbose=False)
    a, b = load(straight / "checkpoints" / "latest.pt"), load(half / "checkpoints" / "latest.pt")
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    assert a["progressive"] == b["progressive"] == {"images": 80, "level": 2, "resolution": 16, "alpha": 0.5,
                                                    "fade_kimg": 0.032, "stable_kimg": 0.016}
    rows = _rows(half)                                                # the log rows say where the schedule is
    assert [r["step"] for r in rows] == list(range(1, 2 * n + 1))
    assert [(r["pg_res"], r["pg_alpha"]) for r in rows] == [
        (4, 1.0), (8, 0.0), (8, 0.25), (8, 0.5), (8, 0.75), (8, 1.0), (8, 1.0), (16, 0.0), (16, 0.25), (16, 0.5)]


def test_a_loaded_run_draws_what_the_trainer_draws_mid_fade(tiny_mnist, tmp_path):
    cfg = api.resolve_config("mnist-dcgan", OPTS + [f"data.root={tiny_mnist}", "train.steps=10"])
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    trainer = Trainer(cfg, run_dir, hooks=[], verbose=False).fit()
    (run_dir / "config.json").write_text(cfg.to_json())
    drawn = trainer.generate(6, seed=3)
    run = load_run(run_dir)
    assert run.pg == Position(2, 0.5) and run.G_ema.lod == run.G.lod == (2, 0.5)
    assert drawn.shape == (6, 1, 16, 16) and torch.equal(run.generate(6, seed=3), drawn)
    assert not torch.equal(drawn, up(drawn[..., ::2, ::2]))          # mid-fade: not the 8x8 image upsampled
    run.G_ema.set_lod()                                               # the full network draws something else
    assert not torch.equal(run.generate(6, seed=3), drawn)


def test_plain_msg_runs_log_no_schedule(tiny_mnist, tmp_path):
    opts = [o for o in OPTS if "progressive" not in o] + [f"data.root={tiny_mnist}", "train.steps=2"]
    run = api.train("mnist-dcgan", opts, out=str(tmp_path / "p"), verbose=False)
    assert "pg_res" not in _rows(run)[0] and load(run / "checkpoints" / "latest.pt")["progressive"] is None


# ---- the config --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,words", [
    (["model.name=dcgan", "data.resolution=32"], "model.name=dcgan is not one; use model.name=msg"),
    (["model.name=msg", "data.resolution=32", "train.pg_start=12"], "train.pg_start must be a power of two"),
    (["model.name=msg", "data.resolution=32", "train.pg_start=64"], "up to data.resolution (32), got 64"),
    (["model.name=msg", "data.resolution=32", "train.pg_start=2"], "train.pg_start"),
    (["model.name=msg", "data.resolution=32", "train.pg_fade_kimg=-1"], "train.pg_fade_kimg"),
])
def test_config_problems_are_one_line(extra, words):
    with pytest.raises(GankitError) as e:
        api.resolve_config("mnist-dcgan", ["train.progressive=true"] + extra)
    assert "\n" not in str(e.value) and words in str(e.value)


def test_a_fitting_config_resolves():
    cfg = api.resolve_config("mnist-dcgan", ["train.progressive=true", "model.name=msg", "data.resolution=64",
                                             "train.pg_start=64"])
    assert cfg.train.progressive and cfg.train.pg_start == 64


# ---- short runs: the schedule fits train.steps (train.pg_fit) ---------------------------------------------
def test_short_runs_fit_the_schedule_into_their_first_60_percent():
    from gankit.config import apply_overrides, load_config
    from gankit.train.progressive import lengths, plan_line
    cfg = load_config("folder-64")
    assert lengths(cfg, 64, 12000) == (6.0, 6.0)                    # the preset's own run: as configured
    fade, hold = lengths(cfg, 64, 1000)                              # 16 thousand images: 9.6 for the growth
    assert fade == pytest.approx(1.6) and hold == pytest.approx(1.6)
    assert full_size_kimg(8, 64, fade, hold) == pytest.approx(0.6 * 16)
    assert lengths(apply_overrides(cfg, ["train.pg_fit=false"]), 64, 1000) == (6.0, 6.0)
    assert "too short" in plan_line(cfg, 64, 1000) and "from step 600" in plan_line(cfg, 64, 1000)
    off = plan_line(apply_overrides(cfg, ["train.pg_fit=false"]), 64, 1000)
    assert "ends at 16 px" in off and "full size only from step 2250" in off
    assert plan_line(cfg, 64, 12000).endswith("full size from step 2250 of 12000")


def test_short_runs_end_at_full_size_and_keep_their_lengths_on_resume(tiny_mnist, tmp_path, capsys):
    opts = [o for o in OPTS if o != "train.pg_fit=false"] + [f"data.root={tiny_mnist}", "checkpoint.every=5"]
    run = api.train("mnist-dcgan", opts + ["train.steps=10"], out=str(tmp_path / "s"), verbose=True)
    said = capsys.readouterr()
    assert "progressive growing 4 -> 16 px: this run's 10 steps are too short" in said.out + said.err
    rows = _rows(run)                  # configured: 96 images to full size; fitted into 48 of the run's 80
    assert (rows[-1]["pg_res"], rows[-1]["pg_alpha"]) == (16, 1.0)
    assert [r["step"] for r in rows if (r["pg_res"], r["pg_alpha"]) == (16, 1.0)][0] <= 6
    saved = load(run / "checkpoints" / "latest.pt")["progressive"]
    assert saved["fade_kimg"] == pytest.approx(0.016) and saved["stable_kimg"] == pytest.approx(0.008)
    api.train("mnist-dcgan", ["train.steps=20"], out=str(run), resume=True, verbose=False)   # longer now
    again = load(run / "checkpoints" / "latest.pt")["progressive"]
    assert (again["fade_kimg"], again["stable_kimg"]) == (saved["fade_kimg"], saved["stable_kimg"])
    assert all(r["pg_res"] == 16 for r in _rows(run) if r["step"] > 10)   # no step back to a smaller size
