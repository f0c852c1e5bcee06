"""Collapse findings a user should act on only: not while the samples' diversity is rising again, and (advice
only) not again until it is clearly worse than when it was last said."""
from test_diagnose import HEALTHY, ModeSampler, events, feed, make_trainer


def collapse_events(trainer):
    return [e for e in events(trainer) if e["kind"] == "collapse"]


def test_a_lasting_collapse_is_said_once_while_it_does_not_get_worse(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(1)
    feed(trainer, hook, [HEALTHY] * 60)                              # 11 checks on one mode, 600 steps
    assert [e["step"] for e in collapse_events(trainer)] == [150]


def test_a_lasting_collapse_is_said_again_with_auto_remedy(tmp_path):
    trainer, hook = make_trainer(tmp_path, "train.auto_remedy=true")
    trainer.parts.G = ModeSampler(1)
    feed(trainer, hook, [HEALTHY] * 60)
    assert len(collapse_events(trainer)) > 1                        # each remedy is judged, the next one tried


def test_a_collapse_that_mends_itself_is_no_finding(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(1)
    feed(trainer, hook, [HEALTHY] * 10)                              # step 100: the first judged check, 1 mode
    for k, start in ((2, 100), (3, 150), (5, 200), (8, 250)):        # modes come back check by check
        trainer.G.k = k
        feed(trainer, hook, [HEALTHY] * 5, start=start)
    assert not collapse_events(trainer)
    assert hook.history[-1]["covered"] == 8


def test_a_collapse_that_gets_worse_after_it_was_said_is_said_again(tmp_path):
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(3)
    feed(trainer, hook, [HEALTHY] * 20)                              # said at 3 of 8 modes
    trainer.G.k = 1
    feed(trainer, hook, [HEALTHY] * 20, start=200)                   # then down to one
    said = collapse_events(trainer)
    assert len(said) == 2 and said[0]["covered"] == 3 and said[1]["covered"] == 1


def test_rollback_advice_without_a_checkpoint_from_then_says_so_and_resumes_from_the_end(tmp_path):
    """checkpoint.every=1000 and samples last diverse at step 200: no 'go back from step 200' that cannot be
    done; the command resumes from the end, and the advice says how to keep a checkpoint from then."""
    from gankit.diagnose.remedies import LADDERS
    trainer, hook = make_trainer(tmp_path)
    trainer.parts.G = ModeSampler(8)
    feed(trainer, hook, [HEALTHY] * 20)                              # diverse until step 200
    (trainer.run_dir / "checkpoints").mkdir()
    (trainer.run_dir / "checkpoints" / "step-0001000.pt").write_bytes(b"")
    trainer.G.k = 1
    hook.rungs["collapse"] = LADDERS["collapse"].index("rollback")
    feed(trainer, hook, [HEALTHY] * 10, start=200)
    msg = collapse_events(trainer)[0]["message"]
    assert "go back to step" not in msg and "cp " not in msg
    assert "samples were last diverse at step 200, but no checkpoint from then is kept" in msg
    assert f"then gankit train {trainer.run_dir} --resume --allow-change train.lr_d train.lr_g" in msg
    assert f"--set checkpoint.every={hook.s.check_every}" in msg
