"""Self-conditioning on k-means clusters (model.clusters): the clustering, the generator that reads its cluster
from z, training, sampling, resume, export and the one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY

from gankit import api
from gankit.cli import main
from gankit.config import ModelConfig
from gankit.data.base import ImageData
from gankit.data.clusters import cluster_images, with_clusters
from gankit.errors import GankitError
from gankit.models import build_models, traits_of
from gankit.seeds import draw, seed_latents
from gankit.train.checkpoint import load

SMALL = TINY + ["train.threads=1", "train.batch_size=8", "train.precision=fp32", "sample.n=8",
                "train.diagnose=false", "eval.every=0"]


def three_colours(per: int = 20, seed: int = 0) -> tuple:
    """uint8 images (3 * per, 3, 12, 12) of three flat colours with noise, and which colour each is."""
    g = torch.Generator().manual_seed(seed)
    base = torch.tensor([[220, 30, 30], [30, 200, 40], [40, 40, 210]], dtype=torch.float32)
    which = torch.arange(3).repeat_interleave(per)
    x = base[which][:, :, None, None] + torch.randint(-20, 21, (3 * per, 3, 12, 12), generator=g)
    perm = torch.randperm(3 * per, generator=g)
    return x.clamp(0, 255).to(torch.uint8)[perm], which[perm]


# ---- the clustering ------------------------------------------------------------------------------------------
def test_kmeans_finds_well_separated_groups_and_is_deterministic():
    images, truth = three_colours()
    labels = cluster_images(images, 3)
    assert labels.shape == (60,) and labels.dtype == torch.int64
    for j in range(3):                           # each cluster is exactly one colour
        assert len(set(truth[labels == j].tolist())) == 1
    assert torch.equal(labels, cluster_images(images, 3))
    sub = cluster_images(images, 3, fit_on=30)    # centres fitted on half the images: the same groups
    assert {tuple(torch.nonzero(sub == j).flatten().tolist()) for j in range(3)} == \
        {tuple(torch.nonzero(labels == j).flatten().tolist()) for j in range(3)}


def test_more_clusters_than_distinct_images_are_all_filled():
    images = torch.zeros(10, 1, 8, 8, dtype=torch.uint8)
    images[5:] = 255                              # two distinct images, five copies each
    labels = cluster_images(images, 4)
    assert sorted(torch.bincount(labels, minlength=4).tolist())[0] >= 1   # no empty cluster


@pytest.mark.parametrize("k", [1, 61])
def test_a_cluster_count_outside_two_to_n_is_one_line(k):
    with pytest.raises(GankitError, match="model.clusters"):
        cluster_images(three_colours()[0], k)


def test_with_clusters_labels_images_and_keeps_the_mirror():
    images, _ = three_colours()
    data = with_clusters(ImageData(images, mirror=True), 3, verbose=False)
    assert data.mirror and data.class_names == ["cluster 0", "cluster 1", "cluster 2"]
    idx = torch.tensor([0, 60])                   # an image and its mirror share a cluster
    assert data.batch_labels(idx)[0] == data.batch_labels(idx)[1]


# ---- the generator -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,shape", [("mlp", (1, 12, 12)), ("dcgan", (1, 28, 28)), ("msg", (3, 16, 16))])
def test_clustered_g_reads_its_cluster_from_z_at_the_data_shares(name, shape):
    cfg = ModelConfig(name=name, clusters=2, latent_dim=16, g_channels=8, d_channels=8, g_hidden=[32],
                      d_hidden=[32])
    G, D = build_models(cfg, shape)
    assert traits_of(G).num_classes == 0 and traits_of(D).num_classes == 2   # unconditional outside, D by cluster
    G.set_prior(torch.tensor([100, 300]))
    z = torch.randn(20000, 16, generator=torch.Generator().manual_seed(0))
    y = G.labels_of(z)
    assert abs(y.float().mean().item() - 0.75) < 0.02                       # cluster 1 holds 3/4 of the data
    G.eval()
    few = z[:4]
    out, explicit = G(few), G(few, G.labels_of(few))
    x, e = (out[-1], explicit[-1]) if isinstance(out, list) else (out, explicit)
    torch.testing.assert_close(x, e)                                         # G(z) is G(z, its own cluster)
    other = G(few, 1 - G.labels_of(few))
    assert not torch.allclose(x, other[-1] if isinstance(other, list) else other)
    G2, _ = build_models(cfg, shape)
    G2.load_state_dict(G.state_dict())                                       # the shares travel with the weights
    assert torch.equal(G2.labels_of(z[:100]), y[:100])


def test_a_prior_of_the_wrong_size_is_refused():
    G, _ = build_models(ModelConfig(name="mlp", clusters=3, latent_dim=8, g_hidden=[16], d_hidden=[16]), (1, 8, 8))
    with pytest.raises(GankitError, match="3 non-negative counts"):
        G.set_prior(torch.tensor([1, 2]))


# ---- training, sampling, resume ------------------------------------------------------------------------------
def test_a_clustered_run_trains_samples_resumes_exactly_and_exports(tiny_mnist, tmp_path):
    sets = SMALL + [f"data.root={tiny_mnist}", "model.clusters=4", "model.g_channels=8", "model.d_channels=8",
                    "checkpoint.every=2"]
    full = api.train("mnist-cond", sets + ["model.conditional=false", "train.steps=4"], out=str(tmp_path / "full"),
                     verbose=False)
    state = load(full / "checkpoints" / "latest.pt")
    assert "classes" not in state                                            # sampled as an unconditional run
    shares = torch.diff(state["G"]["cdf"], prepend=torch.zeros(1))
    assert torch.all(shares > 0) and abs(float(shares.sum()) - 1) < 1e-6
    half = api.train("mnist-cond", sets + ["model.conditional=false", "train.steps=2"], out=str(tmp_path / "half"),
                     verbose=False)
    api.train("mnist-cond", sets + ["model.conditional=false", "train.steps=4"], out=str(half), resume=True,
              verbose=False)
    a, b = load(full / "checkpoints" / "latest.pt")["G"], load(half / "checkpoints" / "latest.pt")["G"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)                # resume is exact
    assert main(["sample", str(full), "--seeds", "0-3", "--out", str(tmp_path / "s.npy")]) == 0
    again = api.load_run(full).generate(4, seed=5)
    assert again.shape == (4, 1, 28, 28) and torch.isfinite(again).all()
    run = api.load_run(full)
    z = seed_latents(range(6), 64, "normal")
    G = run.sampling_model()
    truncated = draw(run, list(range(6)), trunc=0.5)                         # each seed keeps its cluster
    torch.testing.assert_close(truncated, run.generate(6, z=0.5 * z, labels=G.labels_of(z)))
    assert not torch.allclose(truncated, run.generate(6, z=0.5 * z))          # (the cluster of 0.5 z may differ)
    assert main(["export", str(full), "--out", str(tmp_path / "g.pt")]) == 0
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    z = torch.randn(3, 64)
    run = api.load_run(full)
    np.testing.assert_allclose(scripted(z).detach().numpy(), run.generate(3, z=z).numpy(), atol=1e-5)


@pytest.mark.parametrize("sets,words", [
    (["model.conditional=true"], "cannot be combined"),
    (["data.name=ring-2d", "model.name=mlp"], "groups images"),
    (["model.name=resnet"], "no conditional variant"),
    (["model.noise=uniform"], "model.noise=normal"),
    (["model.clusters=-1"], "model.clusters"),
])
def test_settings_that_cannot_cluster_are_one_line(sets, words, capsys):
    assert main(["train", "mnist-cond", "--dry-run", "--set", "model.conditional=false", "model.clusters=10",
                 *sets]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_a_dry_run_with_more_clusters_than_two_batches_times_it(capsys):
    assert main(["train", "mnist-fast", "--dry-run", "--set", "model.clusters=300", "train.batch_size=16"]) == 0
    assert "# time: about" in capsys.readouterr().err
