"""The registry checks what is registered (a TypeError when the defining module is imported), and every
registered metric, feature extractor and remedy is exercised here, so a new one without a test fails."""
import importlib
import math

import pytest
import torch

from gankit.artifacts import PICTURES, REPORTS, SampleHook
from gankit.config import DataConfig
from gankit.data import SOURCES, DatasetInfo, load_data
from gankit.diagnose.remedies import LADDERS, REMEDIES, remedy
from gankit.errors import GankitError
from gankit.metrics import EXTRACTORS, METRICS
from gankit.metrics.classifier import weights_path
from gankit.metrics.evaluate import Evaluator
from gankit.metrics.features import Extractor, get_extractor
from gankit.metrics.inception import find_inception
from gankit.metrics.sources import Samples, from_array, from_data
from gankit.registry import CALLABLE, Registry, instance_of, subclass_of


def _loader(cfg, verbose=True):
    return None


def _fn(*args):
    return None


INFO = DatasetInfo(kind="vector", shape=lambda cfg: (2,), picture="scatter-2d", features="identity",
                   metrics=("fid",))

WRONG = {
    "source without its descriptor": (SOURCES, lambda: SOURCES.register("bad")(_loader)),
    "source with a dict for a descriptor": (SOURCES, lambda: SOURCES.register("bad", info={"kind": "image"})),
    "source that is not callable": (SOURCES, lambda: SOURCES.register("bad", info=INFO)(42)),
    "extractor given as a function": (EXTRACTORS, lambda: EXTRACTORS.register("bad")(_fn)),
    "the Extractor base itself": (EXTRACTORS, lambda: EXTRACTORS.register("bad")(Extractor)),
    "metric given as a string": (METRICS, lambda: METRICS.register("bad")("fid")),
    "remedy given as a bare function": (REMEDIES, lambda: REMEDIES.register("bad")(_fn)),
    "remedy without advice": (REMEDIES, lambda: remedy("bad", advice="")(_fn)),
    "picture that is not callable": (PICTURES, lambda: PICTURES.register("bad")(None)),
    "report given as a hook instance": (REPORTS, lambda: REPORTS.register("bad")(SampleHook())),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_registering_the_wrong_type_is_a_type_error(case):
    registry, register = WRONG[case]
    before = registry.names()
    with pytest.raises(TypeError):
        register()
    assert registry.names() == before and "bad" not in registry


def test_a_wrong_registration_fails_when_its_module_is_imported(tmp_path, monkeypatch):
    (tmp_path / "my_features.py").write_text(
        "from gankit.metrics.features import EXTRACTORS\n\n"
        "@EXTRACTORS.register('my-net')\n"
        "def my_net(precision='fp32', device='cpu'):\n"
        "    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="feature extractor 'my-net' must be a subclass of Extractor"):
        importlib.import_module("my_features")
    assert "my-net" not in EXTRACTORS


def test_registry_checks_descriptors_duplicates_and_names():
    things = Registry("thing", expects=subclass_of(int), info=str)
    things.register("flag", info="a bool")(bool)
    assert things.get("flag") is bool and things["flag"] is bool and things.info("flag") == "a bool"
    with pytest.raises(TypeError, match="must be a subclass of int, got <class 'float'>"):
        things.register("real", info="x")(float)
    with pytest.raises(ValueError, match="registered twice"):
        things.register("flag", info="again")(bool)
    with pytest.raises(GankitError, match="unknown thing 'flga' \\(did you mean 'flag'\\?\\)"):
        things.get("flga")
    plain = Registry("tool", expects=CALLABLE)
    with pytest.raises(TypeError, match="keeps no descriptor"):
        plain.register("x", info="y")
    with pytest.raises(TypeError, match="keeps no descriptors"):
        plain.info("x")
    ints = Registry("count", expects=instance_of(int))
    ints.register("three")(3)
    with pytest.raises(TypeError, match="an instance of int"):
        ints.register("pi")(3.14)


# ---- every registered metric computes, with the keys it promises ------------------------------------------

def ring_samples(n, seed):
    return load_data(DataConfig(name="ring-2d"), verbose=False).sample(n, torch.Generator().manual_seed(seed))


def digit_images(n, channels, seed=0):
    return torch.randint(0, 256, (n, channels, 28, 28), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def ring_case(metric):
    cfg = DataConfig(name="ring-2d")
    real = from_data(load_data(cfg, verbose=False), cfg, 400)
    return Evaluator([metric], real, "identity"), from_array(ring_samples(400, 1))


def gaussian_case(metric):
    cfg = DataConfig(name="gaussian-1d", dim=4)
    real = from_data(load_data(cfg, verbose=False), cfg, 300)
    return Evaluator([metric], real, "identity"), from_array(4.0 + 1.25 * torch.randn(300, 4))


def mnist_case(metric, channels=1):
    if not weights_path("mnist").is_file():
        pytest.skip("no mnist classifier weights")
    return Evaluator([metric], None, "mnist"), Samples(digit_images(60, channels), "digits")


def image_pair_case(metric):
    return Evaluator([metric], Samples(digit_images(40, 1, seed=1), "train"), "identity"), \
        Samples(digit_images(30, 1, seed=2), "generated")


METRIC_CASES = {
    "fid": (ring_case, {"fid_identity"}),
    "kid": (ring_case, {"kid_identity", "kid_identity_std"}),
    "precision": (ring_case, {"precision_identity"}),
    "recall": (ring_case, {"recall_identity"}),
    "density": (ring_case, {"density_identity"}),
    "coverage": (ring_case, {"coverage_identity"}),
    "modes": (ring_case, {"modes", "modes_total", "hq", "rkl", "mode_hist"}),
    "moments": (gaussian_case, {"mean", "std", "ks", "w1"}),
    "is": (mnist_case, {"is_mnist", "is_mnist_std"}),
    "classes": (mnist_case, None),                    # confident_mnist, kl_uniform_mnist, ...: all *_mnist
    "memorisation": (image_pair_case, {"memorisation", "memorisation_nn"}),
    "swd": (image_pair_case, {"swd", "swd_28"}),                # 28 px: one pyramid level
    "stacked": (lambda m: mnist_case(m, channels=3), {"stacked_modes", "stacked_kl", "stacked_n"}),
}


@pytest.mark.parametrize("metric", METRICS.names())
def test_every_registered_metric_computes_its_keys(metric):
    if metric not in METRIC_CASES:
        pytest.fail(f"metric {metric!r} has no case in METRIC_CASES: add one")
    make, keys = METRIC_CASES[metric]
    ev, fake = make(metric)
    out = ev(fake)
    if keys is None:
        assert out and all(k.endswith("_mnist") for k in out), out
    else:
        assert set(out) == keys
    numbers = [v for v in out.values() if isinstance(v, (int, float))]
    assert numbers and all(math.isfinite(v) for v in numbers)


def test_ring_metrics_measure_the_ring():
    ev, fake = ring_case("modes")
    out = ev(fake)
    assert out["modes"] == out["modes_total"] == 8 and out["hq"] > 0.95
    ev, _ = ring_case("fid")
    shifted = from_array(ring_samples(400, 1) + torch.tensor([1.0, 0.0]))
    assert ev(shifted)["fid_identity"] == pytest.approx(1.0, abs=0.1)          # |shift|^2


# ---- every registered feature extractor runs under its registered name --------------------------------------

@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_every_registered_extractor_runs(name):
    cls = EXTRACTORS.get(name)
    if cls.kind == "image" and cls.has_logits and not weights_path(name).is_file():
        pytest.skip(f"no {name} classifier weights")
    if name == "inception":
        try:
            find_inception(verbose=False, allow_download=False)
        except GankitError:
            pytest.skip("FID Inception network not installed")
    ext = get_extractor(name, device="cpu")
    assert isinstance(ext, Extractor) and ext.name == name and name in ext.fingerprint()
    x = digit_images(3, 1) if ext.kind == "image" else torch.randn(3, 5)
    out = ext(x)
    assert out["features"].dim() == 2 and len(out["features"]) == 3 and torch.isfinite(out["features"]).all()
    assert ("logits" in out) == ext.has_logits


# ---- remedies --------------------------------------------------------------------------------------------

def test_every_remedy_is_on_a_ladder_and_every_rung_is_a_remedy():
    rungs = {r for ladder in LADDERS.values() for r in ladder}
    assert rungs == set(REMEDIES.names())
    for name in REMEDIES.names():
        advice = REMEDIES[name].advice
        assert advice.strip() and "\n" not in advice, name


def test_descriptors_name_only_registered_metrics_for_their_kind():
    """Vector data default to vector metrics, images to image metrics (a malformed descriptor fails here)."""
    image_only, vector_only = {"is", "classes", "stacked"}, {"modes", "moments"}
    for name in SOURCES.names():
        info = SOURCES.info(name)
        wrong = vector_only if info.kind == "image" else image_only
        assert not set(info.metrics) & wrong, (name, info.metrics)
        assert EXTRACTORS.get(info.features).kind == info.kind, (name, info.features)
