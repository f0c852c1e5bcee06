"""The model contract (models/traits.py): every family's G and D declare their traits; wrappers carry them."""
import pytest
import torch
from torch import nn

from gankit.config import ModelConfig
from gankit.models import MODELS, build_models
from gankit.models.layers import batch_dependent
from gankit.models.traits import PLAIN, ModelTraits, Network, traits_of

TINY = dict(latent_dim=8, g_hidden=[8], d_hidden=[8], g_channels=4, d_channels=4, max_channels=8)


def _built(name: str, **kw):
    """(G, D) of a family at the first size it builds (images 1x16..1x64, else vectors of 2)."""
    info = MODELS.info(name)
    task = {"task": "superres"} if info.translates else {}
    if info.takes("image"):
        r = next(r for r in (16, 32, 64) if info.sizes is None or info.sizes(r))
        shape = (1, r, r) if name != "msg-projected" else (3, r, r)
    else:
        shape = (2,)
    return build_models(ModelConfig(name=name, **TINY, **task, **kw), shape)


@pytest.mark.parametrize("name", [n for n in MODELS.names() if n != "msg-projected"])  # its trunk needs weights
def test_every_family_builds_networks_whose_traits_agree_with_its_model_info(name):
    G, D = _built(name)
    assert isinstance(G, Network) and isinstance(D, Network), name
    assert traits_of(G).translates == MODELS.info(name).translates
    assert traits_of(G).multiscale == traits_of(D).multiscale
    assert traits_of(G).num_classes == 0


def test_the_plain_case_and_the_declared_ones():
    assert traits_of(nn.Linear(2, 2)) == PLAIN == ModelTraits()
    G, D = build_models(ModelConfig(name="toy-1d", g_hidden=[4], d_hidden=[4]), (6,))
    assert traits_of(G).elementwise and not traits_of(D).elementwise
    G, D = _built("msg")
    assert traits_of(G) == ModelTraits(multiscale=True, feature_truncation=True)
    assert traits_of(D) == ModelTraits(multiscale=True, mbstd_builtin=True) and batch_dependent(D)


def test_wrappers_carry_their_networks_traits():
    cfg = ModelConfig(name="dcgan", conditional=True, **TINY)
    G, D = build_models(cfg, (1, 16, 16), classes=3)
    assert traits_of(G).num_classes == 3 and traits_of(D).num_classes == 3 and not traits_of(D).multiscale
    G, D = build_models(ModelConfig(name="msg", conditional=True, **TINY), (1, 16, 16), classes=4)
    assert traits_of(G) == ModelTraits(multiscale=True, feature_truncation=True, num_classes=4)
    assert traits_of(D) == ModelTraits(multiscale=True, mbstd_builtin=True, num_classes=4)
    _, D = build_models(ModelConfig(name="dcgan", pack=2, mbstd=True, **TINY), (1, 16, 16))
    assert type(D).__name__ == "Packed" and traits_of(D) == PLAIN and batch_dependent(D)
    ddp = type("DDP", (nn.parallel.DistributedDataParallel,), {})  # no process group: wrap by hand
    wrapped = ddp.__new__(ddp)
    nn.Module.__init__(wrapped)
    wrapped.module = G
    assert traits_of(wrapped) == traits_of(G)
    assert torch.is_tensor(D(torch.randn(4, 1, 16, 16)))
