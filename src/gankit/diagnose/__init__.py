"""Failure detectors and their remedies: the trainer notices trouble, says so in plain words, and (with
``train.auto_remedy=true``) does something about it. See docs/stability.md.

Detectors, computed cheaply from what the trainer already logs plus a small fixed-noise batch now and then:

* ``d_wins`` — the discriminator is overpowering G: over the last ``window`` steps the median of its loss is
  below ``d_loss_floor`` (BCE, LSGAN, hinge), or (BCE family) the median D(real) - D(fake) in probability is
  above ``d_gap`` of the label gap (not WGAN: a critic is meant to be optimal). Remedies, one rung per
  detection: halve D's learning rate; add instance and label noise (fading out);
  skip D's update while its loss is low; raise D's dropout.
* ``collapse`` — samples from fixed noise lose diversity against a fixed real batch: their spread falls below
  ``spread_min`` of the real spread, or they cover fewer than ``coverage_min`` of the modes/classes the real
  batch shows, for ``patience`` checks in a row. Remedies: instance and label noise; raise D's dropout; roll
  back to the last good weights and halve both learning rates.
* ``diverged`` — NaN/inf in the losses or weights, or a gradient norm over ``explode`` times its running
  median. Remedy: roll back to the last good weights and halve both learning rates.

Each detection writes an event (events.jsonl and a console line); each remedy writes what it changed, and
``window`` steps later a ``remedy_result`` event says what happened after. Remedies change the live
options (``gankit.train.live``; the config stays as resolved), the optimizers and D through the training
context's named actions (``gankit.train.context``); the hook's state (the changes, the ladders, the kept
weights) is saved in every checkpoint and re-applied on resume.

Example:
    >>> hook = DiagnoseHook(DiagnoseSettings(window=200))
    >>> Trainer(cfg, "runs/x", hooks=[hook]).fit()
"""
from __future__ import annotations

from .diagnoser import BCE_FAMILY, RECOVERING, WORSE, DiagnoseHook, DiagnoseSettings, stable_advice

__all__ = ["BCE_FAMILY", "DiagnoseHook", "DiagnoseSettings", "RECOVERING", "WORSE", "stable_advice"]
