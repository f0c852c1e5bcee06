"""Quality against the clock on a folder of images, each contender run as a user runs it.

    python benchmarks/folder_clock.py                  # folder-64 beside the peer DCGAN on emoji, 15 minutes
    python benchmarks/folder_clock.py --folder ~/photos --contenders folder-64,folder-64:model.g_channels=32
    python benchmarks/folder_clock.py --quick          # a smoke check: ~1 minute of training

A contender is a preset with optional ``:key=value`` overrides, or ``peer`` (benchmarks/peer_dcgan.py, the
pytorch/examples DCGAN). All contenders run at once, one process each with ``--threads`` threads (``train.threads=1``
on a 2-core machine). A gankit contender is ``gankit train PRESET --set data.path=... train.threads=1`` with all
its default hooks (sample grids, periodic evaluation, checkpoints, the report); at the wall-clock budget,
counted from the process's start (data loading and the evaluation's reference included), it gets SIGINT, the
Ctrl-C a user would press: it stops at a step boundary and saves. Every checkpoint is kept
(``checkpoint.keep``), so the marks (default 5, 10, 15 minutes of the budget) read the last checkpoint written by
then, by the run's own clock (``time`` in metrics.jsonl, from the trainer's start).

Afterwards, for each contender and mark: KID in Inception features (when the network is installed; ``--n``
samples a side, default 1 000), ProGAN's sliced Wasserstein distance (pixels), and at the last mark the
memorisation ratio; with steps, images/s, the resolution trained at the end, and the share of the run's time
its periodic evaluation took (from the log's wall times). The table goes to stdout and, with the numbers and the
grids (PNG), to ``benchmarks/results/folder-clock-<time>/``; run directories to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from gankit import viz  # noqa: E402
from gankit.api import resolve_config  # noqa: E402
from gankit.config import DataConfig  # noqa: E402
from gankit.jsonl import read_jsonl  # noqa: E402
from gankit.metrics import evaluate  # noqa: E402
from gankit.metrics.inception import candidate_paths  # noqa: E402
from gankit.run import load_run  # noqa: E402

SEED = 12345   # the samples' noise


def data_overrides(folder: Optional[str]) -> List[str]:
    if folder:
        return [f"data.path={Path(folder).expanduser()}"]
    return ["data.name=emoji", "data.path=null"]


def data_config(folder: Optional[str], resolution: int) -> DataConfig:
    if folder:   # channels unset: a grayscale folder stays grayscale, as gankit's folder presets do
        return DataConfig(name="folder", path=str(Path(folder).expanduser()), resolution=resolution)
    return DataConfig(name="emoji", resolution=resolution, channels=3)


def parse(spec: str) -> Dict[str, Any]:
    name, *sets = spec.split(":")
    label = spec.replace(":", " ")
    return {"spec": spec, "preset": name, "sets": sets, "label": label,
            "dir": "".join(c if c.isalnum() or c in "-._" else "_" for c in spec)[:80]}


# ---- training -----------------------------------------------------------------------------------------------
def start(c: Dict[str, Any], args: argparse.Namespace, out: Path, marks: List[float]) -> subprocess.Popen:
    run = out / c["dir"]
    if c["preset"] == "peer":
        data = data_config(args.folder, 64).__dict__
        cmd = [sys.executable, str(ROOT / "benchmarks" / "peer_dcgan.py"), "--data", json.dumps(data),
               "--minutes", f"{args.minutes:g}", "--marks", ",".join(f"{m:g}" for m in marks), "--n", str(args.n),
               "--threads", str(args.threads), "--seed", str(args.seed), "--out", str(run)]
    else:
        sets = data_overrides(args.folder) + c["sets"] + [
            f"train.threads={args.threads}", f"train.seed={args.seed}", "log.progress=false", "checkpoint.keep=1000"
        ] + (["eval.every=0"] if args.quick else [])   # a smoke check: no minutes of Inception reference
        cmd = [sys.executable, "-m", "gankit", "train", c["preset"], "--out", str(run), "--set", *sets]
    log = open(out / f"{c['dir']}.log", "w")
    print(f"[folder_clock] {c['label']}: {' '.join(cmd[1:])}", flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def train_all(contenders: List[Dict[str, Any]], args: argparse.Namespace, out: Path, marks: List[float]) -> None:
    """Start every contender, SIGINT the gankit ones at the budget, and wait for them to save and finish."""
    t0 = time.perf_counter()
    procs = [(c, start(c, args, out, marks)) for c in contenders]
    while time.perf_counter() - t0 < args.minutes * 60 and any(p.poll() is None for _, p in procs):
        time.sleep(1.0)
    for c, p in procs:
        c["budget_s"] = round(time.perf_counter() - t0, 1)
        if c["preset"] != "peer" and p.poll() is None:
            p.send_signal(signal.SIGINT)      # as Ctrl-C: stop at the step boundary, save, run the end hooks
    for c, p in procs:
        c["exit"] = p.wait()
        c["finished_s"] = round(time.perf_counter() - t0, 1)
        if c["preset"] == "peer" and c["exit"] or c["exit"] not in (0, 2, 130, -signal.SIGINT):
            raise SystemExit(f"{c['label']} failed (exit {c['exit']}); see {out / (c['dir'] + '.log')}")


# ---- reading a run ------------------------------------------------------------------------------------------
def train_rows(run: Path) -> List[Dict[str, Any]]:
    return [r for r in read_jsonl(run / "metrics.jsonl") if isinstance(r.get("time"), (int, float))]


def eval_share(rows: List[Dict[str, Any]]) -> Dict[str, float]:
    """Seconds the periodic evaluation took: each eval row's time minus the row logged before it (the hook runs
    after the step's log row), and an estimate of the reference features prepared before the first step (the
    first row's time beyond its steps at the run's median seconds per step). Shares of the run's last time."""
    evals, per_step, prev = 0.0, [], None
    for r in rows:
        if prev is not None:
            if any(k.startswith("eval/") for k in r):
                evals += r["time"] - prev["time"]
            elif r["step"] > prev["step"] and not any(k.startswith("eval/") for k in prev):
                per_step.append((r["time"] - prev["time"]) / (r["step"] - prev["step"]))
        prev = r
    if not rows:
        return {}
    sec = float(np.median(per_step)) if per_step else 0.0
    start_s = max(0.0, rows[0]["time"] - rows[0]["step"] * sec)
    total = rows[-1]["time"]
    return {"eval_s": round(evals, 1), "start_s": round(start_s, 1), "run_s": round(total, 1),
            "eval_share": round((evals + start_s) / total, 3) if total else None}


def checkpoint_at(run: Path, rows: List[Dict[str, Any]], minutes: float, last: bool) -> Optional[int]:
    """The step of the last checkpoint written by ``minutes`` of the run's clock (None: latest.pt)."""
    if last:
        return None
    steps = sorted(int(p.stem.split("-")[1]) for p in (run / "checkpoints").glob("step-*.pt"))
    at = {r["step"]: r["time"] for r in rows}
    done = [s for s in steps if at.get(s, float("inf")) <= minutes * 60]
    return done[-1] if done else None


def gankit_side(c: Dict[str, Any], out: Path, marks: List[float]) -> List[Dict[str, Any]]:
    run = out / c["dir"]
    rows = train_rows(run)
    if not rows:
        raise SystemExit(f"{c['label']} logged nothing; see {out / (c['dir'] + '.log')}")
    c["overhead"] = eval_share(rows)
    out_rows = []
    for i, mark in enumerate(marks):
        step = checkpoint_at(run, rows, mark, i == len(marks) - 1)
        if step is None and i < len(marks) - 1:
            continue                                    # no checkpoint yet by this mark
        r = load_run(run, step=step)
        row = max((x for x in rows if x["step"] <= r.step), key=lambda x: x["step"])
        batch = r.cfg.train.batch_size
        out_rows.append({"minutes": mark, "step": r.step, "run_min": round(row["time"] / 60, 2),
                         "images": r.step * batch, "img_per_s": round(r.step * batch / max(row["time"], 1e-9), 1),
                         "res": row.get("pg_res", r.cfg.data.resolution), "x": r.generate(c["n"], seed=SEED)})
    return out_rows


def peer_side(c: Dict[str, Any], out: Path) -> List[Dict[str, Any]]:
    run = out / c["dir"]
    rows = json.loads((run / "clock.json").read_text())
    return [{**r, "run_min": r["minutes"], "res": 64,
             "x": torch.from_numpy(np.load(run / f"samples-{r['minutes']:g}min.npy"))} for r in rows]


# ---- scoring ------------------------------------------------------------------------------------------------
def inception_installed() -> bool:
    return any(p.is_file() for p in candidate_paths())


def score(c: Dict[str, Any], row: Dict[str, Any], args: argparse.Namespace, last: bool, grids: Path) -> None:
    """KID (Inception, when installed), SWD and, at the last mark, memorisation of the row's samples, in place."""
    x = row.pop("x")
    dc = data_config(args.folder, int(x.shape[-1]))
    metrics = (["kid"] if args.kid else []) + ["swd"] + (["memorisation"] if last else [])
    m = evaluate(x, data=dc, metrics=metrics, features="inception", n=args.n, precision="bf16", verbose=False)
    row.update({"kid": m.get("kid_inception"), "kid_std": m.get("kid_inception_std"), "swd": m["swd"],
                "swd_levels": {k: v for k, v in m.items() if k.startswith("swd_")},
                "memorisation": m.get("memorisation")})
    viz.save_grid(x[:64], grids / f"{c['dir']}-{row['minutes']:g}min.png")


COLUMNS = ["contender", "minutes (run's clock)", "step", "images", "img/s", "res", "KID ± std", "SWD",
           "memorisation", "eval share"]


def table_rows(contenders: List[Dict[str, Any]]) -> List[List[str]]:
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)
    out = []
    for c in contenders:
        share = (c.get("overhead") or {}).get("eval_share")
        for i, r in enumerate(c["rows"]):
            kid = "-" if r["kid"] is None else f"{r['kid']:.4f} ± {r['kid_std'] or 0:.4f}"
            out.append([c["label"], f"{r['minutes']:g} ({r['run_min']:.1f})", str(r.get("step", "-")),
                        str(r["images"]), f"{r['img_per_s']:.1f}", str(r["res"]), kid, f"{r['swd']:.1f}",
                        f(r["memorisation"], ".3f"), f(share, ".1%") if i == len(c["rows"]) - 1 else ""])
    return out


def table(contenders: List[Dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in table_rows(contenders)])


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folder", help="an image folder (default: the emoji data source)")
    p.add_argument("--contenders", default="folder-64,peer",
                   help="comma-separated: PRESET[:key=value...] or peer (default: folder-64,peer)")
    p.add_argument("--minutes", type=float, default=15, help="wall-clock budget per contender")
    p.add_argument("--marks", default="", help="minutes at which to score (default: 1/3, 2/3 and all of --minutes)")
    p.add_argument("--n", type=int, default=1000, help="samples a side for KID and SWD (default 1 000)")
    p.add_argument("--threads", type=int, default=1, help="threads per contender (train.threads)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-kid", dest="kid", action="store_false", help="skip KID (Inception takes minutes)")
    p.add_argument("--quick", action="store_true", help="a smoke check: 1 minute, one mark, 100 samples, no KID, "
                   "no periodic evaluation")
    p.add_argument("--out", default=f"runs/folder-clock-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--eval-only", action="store_true", help="score the runs of an earlier --out")
    p.add_argument("--record", metavar="NAME", help="also write the table as benchmarks/results/NAME.json for "
                   "docs/benchmarks/folders.md (then run scripts/bench_tables.py)")
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.n, args.kid, args.marks = min(args.minutes, 1.0), min(args.n, 100), False, ""
    marks = sorted(float(m) for m in args.marks.split(",")) if args.marks else \
        ([args.minutes] if args.quick else [args.minutes * k / 3 for k in (1, 2, 3)])
    if args.kid and not inception_installed():
        print("[folder_clock] the Inception network is not installed: no KID (see docs/evaluation.md)")
        args.kid = False
    contenders = [{**parse(s), "n": args.n} for s in args.contenders.split(",")]
    for c in contenders:
        if c["preset"] != "peer":
            resolve_config(c["preset"], data_overrides(args.folder) + c["sets"])   # a typo fails now, not later
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.eval_only:
        train_all(contenders, args, out, marks)
    grids = ROOT / "benchmarks" / "results" / out.name
    grids.mkdir(parents=True, exist_ok=True)
    for c in contenders:
        c["rows"] = peer_side(c, out) if c["preset"] == "peer" else gankit_side(c, out, marks)
        for i, row in enumerate(c["rows"]):
            score(c, row, args, i == len(c["rows"]) - 1, grids)
    text = table(contenders)
    info = {"minutes": args.minutes, "marks": marks, "n": args.n, "threads": args.threads, "folder": args.folder,
            "kid": args.kid, "torch": torch.__version__, "out": str(out)}
    (grids / "results.json").write_text(json.dumps({"setup": info, "contenders": contenders}, indent=1,
                                                   default=float))
    (grids / "table.md").write_text(text + "\n")
    if args.record:   # a table for docs/benchmarks (scripts/bench_tables.py)
        from record import save
        save(args.record, f"Folder clock: {', '.join(c['label'] for c in contenders)}, {args.minutes:g} minutes",
             COLUMNS, table_rows(contenders), "python benchmarks/folder_clock.py " + " ".join(sys.argv[1:]),
             notes=f"{args.threads} thread(s) per contender, all at once; KID and SWD on {args.n} samples a side; "
                   f"minutes: the mark, and in brackets the run's own clock at the checkpoint scored; eval share: "
                   f"the run's time spent in periodic evaluation and its reference. Grids: "
                   f"benchmarks/results/{out.name}/.", page="folders")
    print(text)
    print(f"\nminutes: the mark (the run's own clock at the checkpoint read); eval share: periodic evaluation and "
          f"its reference over the run's time. Results and grids: {grids}")


if __name__ == "__main__":
    main()
