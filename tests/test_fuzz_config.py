"""Property-based fuzz of the config and the CLI: random keys (real ones, typos, junk), values and types.

Whatever a user types after ``--set``, resolving the config and ``gankit train PRESET --dry-run`` end in success
or in one GankitError line (exit status 2) — never another exception, never a traceback. Dry-run only: no data
is loaded. 200 examples for each of the two tests.
"""
import contextlib
import io
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gankit import api
from gankit.cli import main
from gankit.config import RunConfig, all_keys, from_dict, preset_names
from gankit.errors import GankitError
from gankit.train.validate import validate_config

KEYS = all_keys()
# values that YAML reads in surprising ways, the names and choices gankit knows, and the edges of the ranges
ODD = ["", "~", "null", "[", "]", "{", "{a: 1}", "[1, 2]", "[]", "[0]", "-", ".nan", ".inf", "-.inf", "1e400",
       "1e-400", "2001-13-45", "2024-01-01", "!!binary aGk=", "*x", "&a [*a]", "yes", "no", "0x10", "1_000", "nan",
       "inf", "-0", "0.0", "1.0", "0.5", "1", "2", "3", "4", "7", "28", "30", "32", "64", "-1", "9" * 30,
       "adam", "rmsprop", "sgd", "hinge", "hnige", "bce", "wgan", "mnist", "fashion", "ring-2d", "gaussian-1d",
       "folder", "dcgan", "resnet", "keras-dcgan", "toy-1d", "toy-mlp", "mlp", "msg", "normal", "uniform",
       "fp16", "bf16", "fp32", "cpu", "cuda", "cuda:1", "cuda:x", "mps", "auto", "test", "train", "val",
       "color,translation", "colour", "fid", "inception", "a=b", "x\ny", "\t", "é", "🙂"]


@st.composite
def keys(draw):
    kind = draw(st.integers(0, 9))  # mostly real keys, so that many examples resolve; typos and junk besides
    if kind == 0:
        return draw(st.text(max_size=20))
    key = draw(st.sampled_from(KEYS))
    if kind < 8:
        return key
    i = draw(st.integers(0, len(key) - 1))  # a typo: drop, double or change one character
    return draw(st.sampled_from([key[:i] + key[i + 1:], key[:i] + key[i] + key[i:],
                                 key[:i] + draw(st.characters()) + key[i + 1:]]))


VALUES = st.one_of(
    st.sampled_from(ODD),
    st.sampled_from(ODD),
    st.integers(0, 64).map(str),
    st.integers(-10 ** 20, 10 ** 20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.booleans().map(lambda b: str(b).lower()),
    st.lists(st.integers(-5, 300), max_size=4).map(str),
    st.text(max_size=20),
)
PAIR = st.tuples(keys(), VALUES).map(lambda kv: f"{kv[0]}={kv[1]}")


@st.composite
def typed_pair(draw):
    """A real key with a value of its own type (often in range): these examples get past the checks."""
    key = draw(st.sampled_from(KEYS))
    section, name = key.split(".")
    default = getattr(getattr(RunConfig(), section), name)
    if isinstance(default, bool):
        value = draw(st.sampled_from(["true", "false"]))
    elif isinstance(default, int):
        value = str(draw(st.integers(0, 70)))
    elif isinstance(default, float):
        value = repr(draw(st.floats(0, 1.2)))
    elif isinstance(default, list):
        value = str(draw(st.lists(st.integers(0, 300), max_size=3)))
    else:
        value = draw(st.sampled_from(ODD))
    return f"{key}={value}"


PAIRS = st.lists(st.one_of(typed_pair(), typed_pair(), PAIR, PAIR, keys()), min_size=1, max_size=3)

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _one_line(message: str) -> None:
    assert message and "\n" not in message.strip() and "Traceback" not in message, message


@FUZZ
@given(preset=st.sampled_from(preset_names()), pairs=PAIRS)
def test_resolve_config_succeeds_or_says_one_line(preset, pairs):
    try:
        cfg = api.resolve_config(preset, pairs)
    except GankitError as e:
        event("refused with one line")
        _one_line(str(e))
        return
    event("resolved")
    assert validate_config(cfg) is cfg                      # what resolves is valid
    assert from_dict(json.loads(cfg.to_json())) == cfg      # and survives config.json


@FUZZ
@given(preset=st.sampled_from(preset_names()), pairs=PAIRS)
def test_dry_run_exits_0_or_2_with_one_line(preset, pairs):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["train", preset, "--dry-run", "--no-time", "--set", *pairs])
        except SystemExit as e:  # argparse's usage errors (e.g. a pair that starts with '-')
            code = e.code
    assert code in (0, 2), (code, err.getvalue())
    event(f"exit {code}")
    if code == 0:
        shown = json.loads(out.getvalue())
        assert shown["name"] == preset
    else:
        assert out.getvalue() == ""
        _one_line(err.getvalue())
        assert err.getvalue().startswith(("gankit: error:", "gankit train: error:"))


@pytest.mark.parametrize("pairs", [["train.steps=x\ny"], ["train.device=cpu\nx"], ["data.name=a\nb"]])
def test_values_with_newlines_stay_on_one_line(pairs):
    with pytest.raises(GankitError) as e:
        api.resolve_config("mnist-mlp", pairs)
    _one_line(str(e.value))
