"""Quality clock: training time until the samples are judged good by the MNIST classifier.

"Good" (the issue's bar): of 2 000 samples, >= 80% are classified confidently (top softmax >= 0.9 by
gankit's MNIST CNN, ``gankit.metrics``), and every digit is >= 5% of the confident ones. Each recipe trains
in this process with gankit's Trainer; every ``--every`` seconds of *training* time the clock stops, G (its EMA
when the recipe keeps one) draws 2 000 samples from fixed noise, and the classifier scores them: confident
share, the smallest digit share, and the classifier-feature FID against 10 000 training images. The clock
runs again when the evaluation is done, so evaluation never counts as training time.

Two times are reported per row: wall seconds of training, and the process's CPU seconds (all threads). On a
machine shared with other work the wall clock stretches and the CPU seconds much less; with ``--threads 1`` the
CPU seconds are what a quiet single core would need. ``--clock cpu`` makes the budget and the evaluation
cadence count CPU seconds instead of wall seconds (use it, with ``--threads 1``, when the machine is busy).

    python benchmarks/quality_clock.py                               # lesson recipe vs mnist-fast, 5 min each
    python benchmarks/quality_clock.py --recipes mnist-fast --budget 300 --every 15
    python benchmarks/quality_clock.py --recipes "mnist-mlp,mnist-mlp:train.precision=bf16" --budget 900
    python benchmarks/quality_clock.py --quick                       # mnist-fast only, short budget
    python benchmarks/quality_clock.py --recipes mnist-fast --at 2 --threads 2   # judged once after 2 minutes

A recipe is a preset name, optionally followed by ``:key=value:key=value`` overrides.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gankit.config import apply_overrides, load_config  # noqa: E402
from gankit.data import load_data  # noqa: E402
from gankit.metrics.evaluate import Evaluator  # noqa: E402
from gankit.metrics.sources import from_array, from_data  # noqa: E402
from gankit.train.trainer import Trainer  # noqa: E402

CONFIDENT_BAR, DIGIT_BAR = 0.80, 0.05
AIM_CONFIDENT, AIM_DIGIT = 0.90, 0.07   # the MNIST aim of the quality-per-minute work, judged by --at


def parse_recipe(spec: str):
    name, *sets = spec.split(":")
    cfg = apply_overrides(load_config(name), ["log.progress=false"] + sets)
    return cfg


def rarest(hist: List[float]) -> str:
    """The digit with the smallest share ("3"), or how many share the smallest ("4 at 0%") when it is a tie."""
    m = min(hist)
    low = [d for d, h in enumerate(hist) if h == m]
    return str(low[0]) if len(low) == 1 else f"{len(low)} at {m:.0%}"


def judge(values: Dict[str, Any]) -> bool:
    return values["confident_mnist"] >= CONFIDENT_BAR and values["min_class_share_mnist"] >= DIGIT_BAR


def run_clock(spec: str, budget: float, every: float, n: int, data, evaluator: Evaluator,
              stop_when_good: bool, clock: str = "wall") -> Dict[str, Any]:
    cfg = parse_recipe(spec)
    trainer = Trainer(cfg, Path("/tmp/gankit-quality-clock-unused"), data=data, hooks=[], verbose=False)
    wall = cpu = 0.0
    rows: List[Dict[str, Any]] = []
    reached: Optional[Dict[str, Any]] = None
    next_eval = every
    print(f"\n{spec}  (batch {cfg.train.batch_size}, {cfg.train.precision}, {torch.get_num_threads()} threads)")
    print(f"{'train s':>8} {'CPU s':>8} {'steps':>6} {'kimg':>6} {'confident':>9} {'min digit':>9} {'rarest':>8} {'FID':>7}")
    def now() -> float:
        return cpu if clock == "cpu" else wall

    while now() < budget and trainer.step < trainer.total_steps:
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train_step()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if now() < next_eval and now() < budget and trainer.step < trainer.total_steps:
            continue                  # (a recipe whose steps run out is judged at its last step)
        next_eval += every
        trainer.flush_stats()  # keep the per-step records bounded, as the loop does
        x = trainer.generate(n, seed=0)  # fixed noise; EMA weights when the recipe keeps an EMA
        values = evaluator(from_array(x, "generated", "mnist"))
        row = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "step": trainer.step,
               "digits": [round(h, 4) for h in values["class_hist_mnist"]],
               "kimg": round(trainer.step * cfg.train.batch_size / 1000, 1),
               "confident": round(values["confident_mnist"], 4),
               "min_digit": round(values["min_class_share_mnist"], 4),
               "rarest": rarest(values["class_hist_mnist"]),
               "fid": round(values["fid_mnist"], 2), "good": judge(values)}
        rows.append(row)
        print(f"{row['wall_s']:>8.1f} {row['cpu_s']:>8.1f} {row['step']:>6} {row['kimg']:>6.1f} "
              f"{row['confident']:>9.3f} {row['min_digit']:>9.3f} {row['rarest']:>8} {row['fid']:>7.2f}{'  good' if row['good'] else ''}",
              flush=True)
        if row["good"] and reached is None:
            reached = row
            if stop_when_good:
                break
    if reached:
        print(f"-> good after {reached['wall_s']:.0f} s of training ({reached['cpu_s']:.0f} CPU s, "
              f"step {reached['step']})")
    else:
        print(f"-> not good within {wall:.0f} s of training ({cpu:.0f} CPU s, step {trainer.step})")
    return {"recipe": spec, "threads": torch.get_num_threads(), "rows": rows, "reached": reached}


def at_line(result: Dict[str, Any], minutes: float, clock: str) -> str:
    """'mnist-fast after 2 min of training on 2 threads: 91.2% confident, every digit >= 7.4% (rarest 8): meets
    the aim' from the evaluation at the end of a --at run."""
    row = result["rows"][-1]
    hist = ", ".join(f"{d}: {h:.1%}" for d, h in enumerate(row["digits"]))
    ok = row["confident"] >= AIM_CONFIDENT and row["min_digit"] >= AIM_DIGIT
    return (f"{result['recipe']} after {minutes:g} min of training ({clock} clock, {row['wall_s']:.0f} wall s, "
            f"{row['cpu_s']:.0f} CPU s, step {row['step']}) on {result['threads']} thread(s): "
            f"{row['confident']:.1%} confident, every digit >= {row['min_digit']:.1%} (rarest {row['rarest']}); "
            f"{'meets' if ok else 'misses'} the aim (>= {AIM_CONFIDENT:.0%} confident, every digit >= "
            f"{AIM_DIGIT:.0%})\n  digit shares: {hist}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default="mnist-mlp,mnist-fast",
                   help="comma-separated presets (with :key=value overrides); default: lesson 001 and mnist-fast")
    p.add_argument("--budget", type=float, default=300, help="training seconds per recipe")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="what --budget and --every count: wall seconds (default) or CPU seconds")
    p.add_argument("--every", type=float, default=20, help="training seconds between evaluations")
    p.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--keep-going", action="store_true", help="train the whole budget even after the bar is met")
    p.add_argument("--quick", action="store_true", help="mnist-fast only, 150 s budget")
    p.add_argument("--at", type=float, metavar="MINUTES", help="train each recipe exactly this many minutes of "
                   "training (--clock), then judge once: confident share and every digit's share against the aim "
                   f"(>= {AIM_CONFIDENT:.0%} confident, every digit >= {AIM_DIGIT:.0%}); e.g. --recipes mnist-fast "
                   "--at 2 --threads 2".replace("%", "%%"))  # argparse formats help with %
    p.add_argument("--json", help="also write the curves to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.recipes, args.budget = "mnist-fast", min(args.budget, 150)
    if args.at:
        args.budget = args.every = args.at * 60
        args.keep_going = True
    if args.threads:
        torch.set_num_threads(args.threads)
    data_cfg = load_config("mnist-mlp").data
    data = load_data(data_cfg, verbose=False)
    evaluator = Evaluator(["fid", "classes"], from_data(data, data_cfg, 10000), features="mnist", dataset="mnist")
    evaluator.real_features()  # reference features once, before any clock runs
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start; bar: confident >= {CONFIDENT_BAR:.0%}, "
          f"every digit >= {DIGIT_BAR:.0%}; budget {args.budget:g} {args.clock} s per recipe")
    results = [run_clock(spec, args.budget, args.every, args.n, data, evaluator, not args.keep_going, args.clock)
               for spec in args.recipes.split(",")]
    print(f"\n{'recipe':<44} {'good after (train s)':>20} {'CPU s':>8} {'step':>6}")
    for r in results:
        hit = r["reached"]
        print(f"{r['recipe']:<44} {hit['wall_s'] if hit else 'not within budget':>20} "
              f"{hit['cpu_s'] if hit else '':>8} {hit['step'] if hit else '':>6}")
    if args.at:
        print()
        for r in results:
            print(at_line(r, args.at, args.clock))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
