"""Does a checkpoint fit the live run? Every tensor's shape and dtype is checked before anything is loaded.

A tensor of the wrong shape handed to ``load_state_dict`` of an optimizer is not caught by torch: the fused
Adam kernel then reads past its buffers and the process dies (a segmentation fault). So a checkpoint is
compared with the live networks and optimizers first, and a mismatch is one GankitError line.

Example:
    >>> check_module("G", G, state["G"])
    >>> check_optimizer("opt_d", opt_d, state["opt_d"])
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

import torch
from torch import nn

from ..errors import GankitError

_HINT = "it was saved by another preset or config (or is damaged)"


def _fail(what: str, detail: str) -> None:
    raise GankitError(f"the checkpoint does not fit this run: {what} {detail}; {_HINT}")


def _same(what: str, live: torch.Tensor, saved: Any) -> None:
    if not torch.is_tensor(saved):
        _fail(what, f"is a {type(saved).__name__}, not a tensor")
    if tuple(saved.shape) != tuple(live.shape):
        _fail(what, f"has shape {tuple(saved.shape)}, the model needs {tuple(live.shape)}")
    if saved.dtype != live.dtype:
        _fail(what, f"has dtype {saved.dtype}, the model needs {live.dtype}")


def check_module(name: str, module: nn.Module, saved: Any) -> None:
    """The saved state_dict has exactly the module's keys, each with its shape and dtype."""
    if not isinstance(saved, Mapping):
        _fail(name, "is missing")
    live = module.state_dict()
    missing, extra = sorted(set(live) - set(saved)), sorted(set(saved) - set(live))
    if missing or extra:
        _fail(name, f"has {'missing keys ' + ', '.join(missing[:3]) if missing else ''}"
                    f"{' and ' if missing and extra else ''}{'unexpected keys ' + ', '.join(extra[:3]) if extra else ''}")
    for k, v in live.items():
        _same(f"{name}.{k}", v, saved[k])


def check_optimizer(name: str, opt: torch.optim.Optimizer, saved: Any) -> None:
    """Same optimizer kind and groups, and every per-parameter state tensor shaped like its parameter."""
    if not isinstance(saved, Mapping) or not isinstance(saved.get("state"), Mapping) \
            or not isinstance(saved.get("param_groups"), list):
        _fail(name, "is missing or not an optimizer state")
    params = [p for g in opt.param_groups for p in g["params"]]
    groups = saved["param_groups"]
    if len(groups) != len(opt.param_groups) or \
            sum(len(g.get("params", [])) for g in groups if isinstance(g, Mapping)) != len(params):
        _fail(name, f"holds {sum(len(g.get('params', [])) for g in groups if isinstance(g, Mapping))} parameters, "
                    f"the model has {len(params)}")
    live_keys = {k for g in opt.param_groups for k in g if k != "params"}
    for g in groups:
        if not isinstance(g, Mapping) or _kind_differs(g, live_keys):
            _fail(name, "was saved for another optimizer; train.optimizer cannot change on resume")
    for idx, st in saved["state"].items():
        if not isinstance(idx, int) or not 0 <= idx < len(params) or not isinstance(st, Mapping):
            _fail(name, f"has state for parameter {idx!r}, the model has {len(params)}")
        for key, v in st.items():
            if key == "step":
                if not (torch.is_tensor(v) and v.numel() == 1) and not isinstance(v, (int, float)):
                    _fail(f"{name}.state[{idx}].step", "is not a number")
                continue
            _same(f"{name}.state[{idx}].{key}", params[idx], v)


def _kind_differs(group: Mapping[str, Any], live_keys: set) -> bool:
    """Adam groups carry betas, RMSprop groups alpha: a saved group with the other's settings."""
    return ("betas" in group) != ("betas" in live_keys) or ("alpha" in group) != ("alpha" in live_keys)


def check_state(state: Dict[str, Any], parts: Any) -> None:
    """The networks, the EMA and both optimizers of ``parts`` (builder.Components) against a checkpoint."""
    check_module("G", parts.G, state.get("G"))
    check_module("D", parts.D, state.get("D"))
    if parts.ema is not None and state.get("G_ema") is not None:
        check_module("G_ema", parts.ema.model, state["G_ema"])
    check_optimizer("opt_g", parts.opt_g, state.get("opt_g"))
    check_optimizer("opt_d", parts.opt_d, state.get("opt_d"))
