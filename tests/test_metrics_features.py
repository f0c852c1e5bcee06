"""Feature pipeline: batch-size independence, the reference cache and its invalidation, the resize modes."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data.base import ImageData
from gankit.data.fetch import cache_root
from gankit.data.idx import DEBIAN, FILES, load_idx
from gankit.metrics.classifier import MnistNet, load_classifier, weights_path
from gankit.metrics.features import ClassifierExtractor, Extractor, IdentityExtractor, cached_features, cached_rows, extract, get_extractor
from gankit.metrics.fid import mean_cov
from gankit.metrics.inception import clean_resize
from gankit.metrics.sources import from_array, from_data, to_uint8


class SmallCNN(ClassifierExtractor):
    """The classifier pipeline with random weights (no shipped file needed)."""

    def __init__(self, resize: str = "luma, antialiased bilinear to 28x28, [-1,1]", digest: str = "w0"):
        torch.manual_seed(0)
        self.name, self.precision, self.resize, self.digest = "small", "fp32", resize, digest
        self.device = torch.device("cpu")
        self.net = MnistNet().eval()
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return super().__call__(x)


def images(n: int, seed: int = 0, size: int = 28, channels: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("ext", [SmallCNN(), IdentityExtractor()], ids=["cnn", "identity"])
def test_feature_statistics_do_not_depend_on_batch_size(ext):
    x = images(120) if ext.kind == "image" else torch.randn(120, 6, generator=torch.Generator().manual_seed(1))
    stats = [mean_cov(extract(ext, x, batch_size=bs)["features"]) for bs in (1, 7, 64, 120)]
    for mu, cov in stats[1:]:
        np.testing.assert_allclose(mu, stats[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cov, stats[0][1], rtol=1e-5, atol=1e-7)


def test_reference_cache_hits_and_invalidation(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    data = ImageData(images(40), torch.arange(40) % 10, "tiny")
    cfg = DataConfig(name="tiny", split="train")
    ext = SmallCNN()

    def run(e=ext, c=cfg, d=data, n=30):
        """(extractor calls this made, features)"""
        before = e.calls
        s = from_data(d, c, n)
        feats = cached_features(e, s.x, s.key)
        return e.calls - before, feats

    computed, first = run()
    assert computed and len(list((tmp_path / "stats").glob("*.npz"))) == 1
    computed, again = run()
    assert not computed                                            # same (images, extractor, resize): hit
    np.testing.assert_array_equal(first["features"], again["features"])
    assert not run(c=DataConfig(name="other", split="test"))[0]    # the same images under another name: the same key
    computed, fewer = run(n=20)
    assert not computed                                            # a shorter prefix of the same shuffle: a hit
    np.testing.assert_array_equal(fewer["features"], first["features"][:20])
    computed, more = run(n=40)
    assert computed and len(more["features"]) == 40                # longer: only the 10 new rows are extracted
    np.testing.assert_array_equal(more["features"][:30], first["features"])
    np.testing.assert_allclose(more["features"], extract(ext, from_data(data, cfg, 40).x)["features"], atol=1e-5)
    assert len(list((tmp_path / "stats").glob("*.npz"))) == 1      # one file per (images, extractor)
    assert run(e=SmallCNN(resize="nearest to 28x28"))[0]           # another resize mode
    assert run(e=SmallCNN(digest="w1"))[0]                         # other extractor weights
    edited = ImageData(data.images.clone(), data.labels, "tiny")
    edited.images[0, 0, 0, 0] ^= 1
    assert run(d=edited, n=40)[0]                                  # the data files changed
    assert not run(d=edited, n=40)[0]


def test_extension_extracts_only_the_new_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    data, cfg = ImageData(images(50), None, "tiny"), DataConfig(name="tiny")
    ext = SmallCNN()
    sizes = []
    monkeypatch.setattr(SmallCNN, "__call__", lambda self, x: sizes.append(len(x)) or ClassifierExtractor.__call__(self, x))
    s = from_data(data, cfg, 30)
    cached_features(ext, s.x, s.key)
    s = from_data(data, cfg, 45)
    assert cached_rows(ext, s.x, s.key) == 30
    cached_features(ext, s.x, s.key)
    assert sizes == [30, 15] and cached_rows(ext, s.x, s.key) == 45


def test_damaged_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    ext, x = SmallCNN(), images(10)
    cached_features(ext, x, {"data": "d"})
    for p in (tmp_path / "stats").glob("*.npz"):
        p.write_bytes(b"garbage")
    calls = ext.calls
    out = cached_features(ext, x, {"data": "d"})
    assert ext.calls > calls and out["features"].shape == (10, 128)


def test_clean_resize_matches_pil_bicubic():
    x = images(1, seed=3, size=28)[0, 0].numpy().astype(np.float32)
    pil = np.asarray(Image.fromarray(x, mode="F").resize((299, 299), resample=Image.BICUBIC)).clip(0, 255)
    ours = clean_resize(torch.from_numpy(x)[None, None].clone())[0, 0].numpy()
    assert np.abs(ours - pil).max() < 2e-3                          # grey levels out of 255


def test_generated_images_are_quantized_like_png():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0, 1.2]).view(1, 1, 2, 3)
    assert to_uint8(x).flatten().tolist() == [0, 0, 128, 191, 255, 255]
    s = from_array(torch.rand(4, 8, 8, 3) * 2 - 1)                  # NHWC is accepted
    assert s.x.shape == (4, 3, 8, 8) and s.kind == "image"


def test_classifier_extractor_handles_rgb_and_other_sizes():
    ext = SmallCNN()
    out = ext(images(3, size=32, channels=3))
    assert out["features"].shape == (3, 128) and out["logits"].shape == (3, 10)


# The user's data cache, read when this module is imported: the autouse fixture later points $GANKIT_DATA at an
# empty folder for every test.
USER_CACHE = cache_root()


def local_test_split(name: str):
    """A folder already on this machine holding the real test split of mnist/fashion, or None (no download)."""
    for d in (USER_CACHE / name, DEBIAN.get(name)):
        if d is not None and all((d / f).is_file() or (d / (f + ".gz")).is_file() for f in FILES["test"][:2]):
            return d
    return None


@pytest.mark.parametrize("name,floor", [("mnist", 0.99), ("fashion", 0.90)])
def test_shipped_classifier_accuracy_measured_on_the_real_test_split(name, floor):
    if not weights_path(name).is_file():
        pytest.skip(f"no {name} classifier weights")
    root = local_test_split(name)
    if root is None:
        pytest.skip(f"the real {name} test split is not on this machine (fetch it once with gankit)")
    images, labels = load_idx(name, "test", str(root), verbose=False)      # (10000, 1, 28, 28), (10000,)
    ext = get_extractor(name, device="cpu")                                # the extractor the metrics use
    predicted = torch.from_numpy(extract(ext, images, batch_size=1000)["logits"]).argmax(1)
    accuracy = float((predicted == labels).double().mean())
    assert len(labels) == 10000 and accuracy >= floor
    # the figure stored with the weights is what this pipeline measures
    assert accuracy == pytest.approx(load_classifier(name).meta["test_accuracy"], abs=0.002)
    assert sum(p.numel() for p in ext.net.parameters()) < 200_000


def test_inception_extractor_on_tiny_batch():
    from gankit.errors import GankitError
    from gankit.metrics.inception import InceptionExtractor, find_inception
    try:
        path = find_inception(verbose=False, allow_download=False)
    except GankitError:
        pytest.skip("FID Inception network not installed")
    ext = InceptionExtractor(path=path)
    out = ext(images(2, size=16, channels=1))["features"]
    assert out.shape == (2, 2048) and torch.isfinite(out).all() and (out >= 0).all()   # post-ReLU pool


def test_extractor_base_is_abstract():
    with pytest.raises(NotImplementedError):
        Extractor()(torch.zeros(1, 2))
