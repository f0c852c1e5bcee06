"""Image-to-image (pix2pix): pairs made from images, the restoration metrics against reference formulas, exact
resume of a translator, `gankit apply` on other sizes, `gankit eval`, and bad input as one line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit import api
from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import load_data
from gankit.data.pairs import baseline, blur_fill, downscale, holdout_split, hole_masks, make_inputs
from gankit.errors import GankitError
from gankit.metrics.features import get_extractor
from gankit.metrics.restore import chroma_error, output_kid, psnr, ssim
from gankit.train.checkpoint import load

TINY = ["log.progress=false", "train.threads=1", "train.batch_size=4", "model.g_channels=4", "model.d_channels=4",
        "data.resolution=16", "train.precision=fp32", "sample.every=0", "log.every=1", "checkpoint.every=100",
        "train.diagnose=false"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=gen(seed)) * 2 - 1


@pytest.fixture
def folder(tmp_path) -> Path:
    """20 colour images of 24x24: a coloured square on a gradient, so there is something to restore."""
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        a = np.tile(np.linspace(0, 255, 24, dtype=np.uint8)[None, :, None], (24, 1, 3))
        r, c = rng.integers(0, 14, 2)
        a[r:r + 10, c:c + 10] = rng.integers(0, 256, 3)
        Image.fromarray(a).save(d / f"{i:02d}.png")
    return d


# ---- pair making --------------------------------------------------------------------------------------------
def test_superres_input_is_the_antialiased_quarter_upscaled_bicubic():
    x = images()
    inp = make_inputs("superres", x)
    small = F.interpolate(x, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    want = F.interpolate(small, size=(32, 32), mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.allclose(inp, want)
    assert downscale(x).shape[-2:] == (8, 8)
    assert torch.equal(baseline("superres", inp), inp)  # the baseline is bicubic itself


def test_colorize_input_is_the_luminance():
    x = images()
    inp = make_inputs("colorize", x)
    assert inp.shape == (6, 1, 32, 32)
    assert torch.allclose(inp[:, 0], 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2], atol=1e-6)
    assert baseline("colorize", inp, 3).shape == (6, 3, 32, 32)


def test_inpaint_holes_are_deterministic_per_seed_and_hide_the_pixels():
    x = images(8, 64)
    a, b, c = (make_inputs("inpaint", x, gen(s)) for s in (1, 1, 2))
    assert a.shape == (8, 4, 64, 64)
    assert torch.equal(a, b) and not torch.equal(a, c)
    m = a[:, -1:]
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    share = m.mean((1, 2, 3))
    assert bool((share > 0.005).all()) and bool((share < 0.9).all())       # every image has a hole, none is all hole
    assert torch.equal(a[:, :3] * m, torch.zeros_like(a[:, :3]))           # the hole is grey (0)
    assert torch.equal(a[:, :3] * (1 - m), x * (1 - m))                    # the rest as it was


def test_hole_masks_include_free_form_and_rectangles():
    m = hole_masks(30, 64, 64, gen(0))[:, 0]
    filled_rows = m.any(2)
    # a rectangle's rows are all the same; a stroke's are not: both kinds appear among 30 draws
    rect_like = [bool((m[i][filled_rows[i]] == m[i][filled_rows[i]][0]).all()) for i in range(30)]
    assert any(rect_like) and not all(rect_like)


def test_blur_fill_keeps_known_pixels_and_fills_a_flat_image_flat():
    x = torch.full((1, 3, 16, 16), 0.25)
    x[..., :, :4] = -0.5
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 6:10, 6:10] = 1
    out = blur_fill(x, mask)
    assert torch.equal(out * (1 - mask), x * (1 - mask))
    assert torch.allclose(out[..., 6:10, 6:10], torch.full_like(out[..., 6:10, 6:10], 0.25), atol=1e-5)


def test_holdout_split_is_fixed_and_disjoint(folder):
    tr, held = holdout_split(20, 0.1)
    assert len(held) == 2 and len(tr) == 18
    assert set(tr.tolist()) | set(held.tolist()) == set(range(20)) and not set(tr.tolist()) & set(held.tolist())
    assert torch.equal(holdout_split(20, 0.1)[1], held)
    data = load_data(DataConfig(name="folder", path=str(folder), resolution=16, holdout=0.1), verbose=False)
    full = load_data(DataConfig(name="folder", path=str(folder), resolution=16), verbose=False)
    assert len(data) == 18 and torch.equal(data.heldout, full.images[held])
    with pytest.raises(GankitError, match="leaving none to train on"):
        holdout_split(3, 0.9)


# ---- metrics ------------------------------------------------------------------------------------------------
def test_psnr_matches_the_formula():
    x, y = images(4, 16, 0), images(4, 16, 1)
    a, b = (x.numpy() + 1) / 2, (y.numpy() + 1) / 2
    want = [10 * np.log10(1 / np.mean((a[i] - b[i]) ** 2)) for i in range(4)]
    assert np.allclose(psnr(x, y).numpy(), want, atol=1e-4)
    mask = torch.zeros(4, 1, 16, 16)
    mask[..., :8, :] = 1
    want_half = [10 * np.log10(1 / np.mean((a[i, :, :8] - b[i, :, :8]) ** 2)) for i in range(4)]
    assert np.allclose(psnr(x, y, mask).numpy(), want_half, atol=1e-4)


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM written out window by window (Wang et al. 2004; 11x11 Gaussian, sigma 1.5; valid windows)."""
    t = np.arange(11) - 5.0
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for ch in range(a.shape[0]):
        for i in range(a.shape[1] - 10):
            for j in range(a.shape[2] - 10):
                pa, pb = a[ch, i:i + 11, j:j + 11], b[ch, i:i + 11, j:j + 11]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                cov = (w * (pa - ma) * (pb - mb)).sum()
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_windowed_formula():
    x = images(2, 16, 3)
    y = (x + 0.3 * images(2, 16, 4)).clamp(-1, 1)
    got = ssim(x, y)
    for i in range(2):
        want = _ssim_reference((x[i].double().numpy() + 1) / 2, (y[i].double().numpy() + 1) / 2)
        assert abs(float(got[i]) - want) < 1e-5
    assert torch.allclose(ssim(x, x), torch.ones(2))


def test_chroma_error_is_zero_for_the_same_colour_and_positive_for_grey():
    x = images(2, 16)
    assert torch.allclose(chroma_error(x, x), torch.zeros(2))
    grey = make_inputs("colorize", x).expand(-1, 3, -1, -1)
    assert bool((chroma_error(grey, x) > 1).all())


# ---- training, resume, apply, eval ---------------------------------------------------------------------------
def _train(folder: Path, out: Path, task: str, steps: int, resume: bool = False, extra: tuple = ()) -> Path:
    opts = TINY + [f"data.path={folder}", f"model.task={task}", f"train.steps={steps}", *extra]
    if resume:
        return api.train(str(out), [f"train.steps={steps}"], resume=True, verbose=False)
    return api.train(f"{task}-64", opts, out=str(out), verbose=False)


def test_translator_resume_is_exact(folder, tmp_path):
    straight = _train(folder, tmp_path / "a", "inpaint", 6)
    half = _train(folder, tmp_path / "b", "inpaint", 3)
    _train(folder, half, "inpaint", 6, resume=True)
    a, b = load(straight / "checkpoints" / "latest.pt"), load(half / "checkpoints" / "latest.pt")
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"
    assert a["loss"]["draws"] == b["loss"]["draws"] == 6


def _png(path: Path, w: int, h: int, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def test_apply_superres_on_other_sizes_tiles_or_resizes(folder, tmp_path, capsys):
    run = _train(folder, tmp_path / "sr", "superres", 2)
    ins = tmp_path / "in"
    ins.mkdir()
    _png(ins / "small.png", 4, 4)        # -> 16x16: the trained size, as is
    _png(ins / "wide.png", 10, 6)        # -> 40x24: tiled
    _png(ins / "tiny.png", 3, 2)         # -> 12x8: resized
    assert main(["apply", str(run), str(ins), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out
    for name, size in (("small", (16, 16)), ("wide", (40, 24)), ("tiny", (12, 8))):
        assert Image.open(tmp_path / "out" / f"{name}.png").size == size
    assert "wide.png: 10x6" in lines and "tiled" in lines and "resized 12x8 -> 16x16" in lines and "as is" in lines
    assert Image.open(tmp_path / "out" / "before_after.png").height > 3 * 100


def test_apply_inpaint_keeps_the_known_pixels(folder, tmp_path):
    run = _train(folder, tmp_path / "ip", "inpaint", 2)
    img = _png(tmp_path / "photo.png", 20, 20)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:12, 5:12] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert main(["apply", str(run), str(img), "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o")]) == 0
    out, src = np.asarray(Image.open(tmp_path / "o" / "photo.png")), np.asarray(Image.open(img))
    assert np.array_equal(out[mask == 0], src[mask == 0])


def test_eval_compares_with_the_baseline_on_held_out_images(folder, tmp_path, capsys):
    run = _train(folder, tmp_path / "cz", "colorize", 2)
    assert main(["eval", str(run), "--json"]) == 0
    import json
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["split"] == "held-out" and result["n"] == 1 and result["baseline_name"] == "grey"
    assert set(result["gankit"]) == set(result["baseline"]) == {"psnr", "ssim", "chroma_error"}
    assert '"eval/psnr_grey"' in (run / "metrics.jsonl").read_text()


def test_kid_of_the_outputs_is_small_for_images_like_the_originals_and_large_for_noise():
    blocky = lambda seed: torch.cat([F.interpolate(images(1, 8, seed=seed + i), size=28) for i in range(40)])  # noqa: E731
    x = blocky(0)
    noise = torch.rand(40, 3, 28, 28, generator=gen(9)) * 2 - 1
    k = output_kid(get_extractor("mnist", device="cpu"), x, alike=blocky(100), noise=noise, flat=torch.zeros_like(x))
    assert abs(k["alike"]) < 0.01 * k["noise"] and abs(k["alike"]) < 0.01 * k["flat"]
    with pytest.raises(GankitError, match="at least 2 held-out images"):
        output_kid(get_extractor("mnist", device="cpu"), x[:1], same=x[:1])


def test_eval_kid_of_the_outputs_on_request(folder, tmp_path, capsys):
    run = _train(folder, tmp_path / "sr", "superres", 2, extra=["data.holdout=0.25"])
    assert main(["eval", str(run), "--json", "--metrics", "kid", "--features", "mnist", "--force-features"]) == 0
    import json
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 5
    assert result["gankit"]["kid_mnist"] >= -1 and result["baseline"]["kid_mnist"] >= -1
    assert '"eval/kid_mnist_bicubic"' in (run / "metrics.jsonl").read_text()
    assert main(["eval", str(run), "--metrics", "fid", "--no-append"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--metrics takes only kid" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args,what", [
    (["--interpolate", "4", "--out", "W.png"], "--interpolate"),
    (["--seeds", "0-3", "--out", "S.png"], "--seeds"),
    (["--seeds", "1", "--trunc", "0.7", "--out", "S.png"], "--trunc"),
    (["--interpolate", "4", "--from", "a.npy", "--to", "b.npy", "--out", "W.png"], "--from/--to"),
    (["PROJECT", "P.png", "--out", "proj"], "projecting a picture"),
])
def test_latent_commands_on_a_translator_are_one_line(folder, tmp_path, capsys, args, what):
    run = _train(folder, tmp_path / "cz", "colorize", 1)
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, np.zeros(8, np.float32))
    _png(tmp_path / "P.png", 16, 16)
    capsys.readouterr()
    args = [str(tmp_path / a) if a.endswith((".png", ".npy")) or a == "proj" else a for a in args]
    cmd = ["project", str(run), *args[1:]] if args[0] == "PROJECT" else ["sample", str(run), *args]
    assert main(cmd) == 2
    assert not (tmp_path / "proj").exists()
    err = capsys.readouterr().err.strip()
    assert "translates images" in err and what in err and len(err.splitlines()) == 1


# ---- bad input: one line, exit status 2 ----------------------------------------------------------------------
def test_a_mask_of_another_size_is_one_line(folder, tmp_path, capsys):
    run = _train(folder, tmp_path / "ip", "inpaint", 1)
    img = _png(tmp_path / "photo.png", 20, 20)
    _png(tmp_path / "mask.png", 16, 20, mode="L")
    capsys.readouterr()
    assert main(["apply", str(run), str(img), "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the mask is 16x20 but photo.png is 20x20" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["EMPTY"], "holds no images"),
    (["IMG"], "needs --mask"),
])
def test_apply_bad_input_is_one_line(folder, tmp_path, capsys, args, message):
    run = _train(folder, tmp_path / "ip", "inpaint", 1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    img = _png(tmp_path / "photo.png", 16, 16)
    args = [str(tmp_path / "empty") if a == "EMPTY" else str(img) if a == "IMG" else a for a in args]
    capsys.readouterr()
    code = main(["apply", str(run), *args, "--mask", str(img), "--out", str(tmp_path / "o")]
                if args[0].endswith("empty") else ["apply", str(run), *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_config_mistakes_are_one_line(folder):
    for extra, message in ((["model.task="], "needs model.task"), (["data.channels=1"], "colorize"),
                           (["model.name=dcgan"], "is for an image-to-image model")):
        with pytest.raises(GankitError, match=message):
            api.resolve_config("colorize-64", TINY + [f"data.path={folder}"] + extra)


def test_apply_tiles_in_chunks_and_refuses_an_oversized_output_before_writing(folder, tmp_path, capsys,
                                                                               monkeypatch):
    from gankit import apply as apply_mod
    run = _train(folder, tmp_path / "sr", "superres", 2)
    img = _png(tmp_path / "wide.png", 13, 7)                       # -> 52x28: tiled
    assert main(["apply", str(run), str(img), "--out", str(tmp_path / "one")]) == 0
    monkeypatch.setattr(apply_mod, "TILE_CHUNK", 1)                # the same tiles, one at a time
    assert main(["apply", str(run), str(img), "--out", str(tmp_path / "chunked")]) == 0
    a = np.asarray(Image.open(tmp_path / "one" / "wide.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "chunked" / "wide.png"), dtype=np.int16)
    assert np.abs(a - b).max() <= 1
    monkeypatch.setattr(apply_mod, "MAX_OUTPUT_PIXELS", 40 * 40)   # 52x28 = 1 456 px fits, 13x13 -> 52x52 not
    big = _png(tmp_path / "big.png", 13, 13)
    capsys.readouterr()
    assert main(["apply", str(run), str(img), str(big), "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err.strip()
    assert "big.png would come out 52x52 px" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "refused").exists()                      # nothing written, not even wide.png
