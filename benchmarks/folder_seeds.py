"""Zero tuning: one preset, as typed, on several folders and several seeds — does every run end near its best?

    python benchmarks/folder_seeds.py --folders noto=DIR1,twemoji=DIR2,lfw=DIR3 --seeds 0,1,2
    python benchmarks/folder_seeds.py --folders faces=~/faces --steps 2400 --eval-every 400 --jobs 2
    python benchmarks/folder_seeds.py --out runs/folder-seeds-X --table-only    # re-read finished runs

Each (folder, seed) is ``gankit train PRESET --set data.path=DIR train.seed=S train.steps=N`` with the preset's
hooks (periodic KID + SWD every ``--eval-every`` steps on ``--n`` samples against the folder, sample grids,
checkpoints, the diagnoser), one thread per run (``--jobs`` runs at once). From the run's metrics.jsonl:
the best KID it reached and at which step, the KID it ended with, their ratio (the bar: the end within 1.5x of the
best), the last SWD, and the diagnoser's findings (events.jsonl: mode collapse, D winning). The end's grid is
copied next to the table. A run counts as collapsed when the diagnoser reported a collapse in its last quarter or
its last KID is more than 3x its best.

The table goes to stdout and (with ``--record NAME``) to benchmarks/results/NAME.json, from which
scripts/bench_tables.py writes docs/benchmarks.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from gankit.jsonl import read_jsonl  # noqa: E402

BAR = 1.5          # the end's KID within this factor of the run's best
COLLAPSE = 3.0     # an end this many times the best counts as a collapse even without a finding


def train(job: Dict[str, Any], args: argparse.Namespace) -> Dict[str, Any]:
    run = Path(args.out) / job["dir"]
    sets = [f"data.path={job['path']}", f"train.seed={job['seed']}", f"train.threads={args.threads}",
            "log.progress=false"] + ([f"train.steps={args.steps}"] if args.steps else []) + (
        [f"eval.every={args.eval_every}"] if args.eval_every else []) + ([f"eval.n={args.n}"] if args.n else [])
    cmd = [sys.executable, "-m", "gankit", "train", args.preset, "--out", str(run), "--set", *sets + args.set]
    print(f"[folder_seeds] start {job['dir']}: gankit {' '.join(cmd[3:])}", flush=True)
    t0 = time.perf_counter()
    with open(Path(args.out) / f"{job['dir']}.log", "w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    print(f"[folder_seeds] {job['dir']} exit {code} after {time.perf_counter() - t0:.0f} s", flush=True)
    return {**job, "exit": code, "wall_s": round(time.perf_counter() - t0, 1)}


def summarise(job: Dict[str, Any], out: Path) -> Dict[str, Any]:
    """The run's KID curve, end/best ratio, last SWD and findings, from its logs."""
    run = out / job["dir"]
    rows = read_jsonl(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    evals = [(r["step"], r["eval/kid_inception"], r.get("eval/swd")) for r in rows if "eval/kid_inception" in r]
    events = read_jsonl(run / "events.jsonl") if (run / "events.jsonl").is_file() else []
    last_step = max((r["step"] for r in rows), default=0)
    res: Dict[str, Any] = {k: job[k] for k in ("folder", "seed", "dir")}
    res.update({"steps": last_step, "run_min": round(max((r.get("time", 0) for r in rows), default=0) / 60, 1),
                "kid_curve": [[s, round(k, 4)] for s, k, _ in evals],
                "findings": [f"{e['kind']}@{e['step']}" for e in events if e.get("kind") in ("collapse", "d_wins")]})
    if evals:
        best = min(evals, key=lambda e: e[1])
        end = evals[-1]
        ratio = end[1] / best[1] if best[1] > 0 else float("inf")
        late = [e for e in events if e.get("kind") == "collapse" and e["step"] >= 0.75 * last_step]
        res.update({"kid_best": round(best[1], 4), "best_step": best[0], "kid_end": round(end[1], 4),
                    "ratio": round(ratio, 2), "swd_end": None if end[2] is None else round(end[2], 1),
                    "within": ratio <= BAR, "collapsed": bool(late) or ratio > COLLAPSE})
    grids = sorted((run / "samples").glob("step-*.png"))
    if grids:
        (out / "grids").mkdir(exist_ok=True)
        shutil.copy(grids[-1], out / "grids" / f"{job['dir']}.png")
        res["grid"] = f"grids/{job['dir']}.png"
    return res


COLUMNS = ["folder", "seed", "steps", "KID best (step)", "KID end", "end / best", "SWD end", "findings", "verdict"]


def rows_of(results: List[Dict[str, Any]]) -> List[List[Any]]:
    out: List[List[Any]] = []
    for r in results:
        if "kid_best" not in r:
            out.append([r["folder"], r["seed"], r["steps"], None, None, None, None, None, "no evaluation"])
            continue
        verdict = "collapsed" if r["collapsed"] else ("ok" if r["within"] else f"ended > {BAR}x best")
        out.append([r["folder"], r["seed"], r["steps"], f"{r['kid_best']:.4f} ({r['best_step']})",
                    f"{r['kid_end']:.4f}", f"{r['ratio']:.2f}", r["swd_end"], len(r["findings"]), verdict])
    return out


def table(results: List[Dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join("-" if v is None else str(v) for v in r) + " |"
                              for r in rows_of(results)])


def docs_grid(r: Dict[str, Any], out: Path, record: str) -> str:
    """The run's last grid as docs/img/seeds/RECORD-DIR.jpg (half size); the markdown that shows it."""
    if not r.get("grid"):
        return "-"
    from PIL import Image
    dest = ROOT / "docs" / "img" / "seeds" / f"{record}-{r['dir']}.jpg"
    dest.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(out / r["grid"]).convert("RGB")
    img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(dest, quality=85)
    return f"![{r['dir']}](../img/seeds/{dest.name})"


def parse_folders(spec: str) -> Dict[str, str]:
    out = {}
    for item in spec.split(","):
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).expanduser().is_dir():
            raise SystemExit(f"--folders: each item is NAME=DIR with an existing DIR (got {item!r})")
        out[name] = str(Path(path).expanduser().resolve())
    return out


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--folders", required=True, help="NAME=DIR,NAME=DIR,...")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--preset", default="folder-64")
    p.add_argument("--steps", type=int, default=0, help="train.steps (default: the preset's)")
    p.add_argument("--eval-every", type=int, default=0, help="eval.every (default: the preset's)")
    p.add_argument("--n", type=int, default=0, help="eval.n (default: the preset's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="runs at once (each with --threads threads)")
    p.add_argument("--set", nargs="*", default=[], help="more key=value overrides for every run")
    p.add_argument("--out", default=f"runs/folder-seeds-{time.strftime('%Y%m%d-%H%M%S')}")
    p.add_argument("--table-only", action="store_true", help="summarise the runs already in --out")
    p.add_argument("--record", metavar="NAME", help="also write benchmarks/results/NAME.json, with each run's last "
                   "grid in docs/img/seeds/")
    p.add_argument("--notes", default="", help="with --record: a sentence for under the table (what the grids show)")
    args = p.parse_args(argv)
    folders = parse_folders(args.folders)
    jobs = [{"folder": f, "path": d, "seed": int(s), "dir": f"{f}-s{s}"}
            for f, d in folders.items() for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(lambda j: train(j, args), jobs))
    results = [summarise(j, out) for j in jobs]
    print(table(results))
    meta = {"preset": args.preset, "steps": args.steps, "eval_every": args.eval_every, "n": args.n,
            "threads": args.threads, "jobs": args.jobs, "sets": args.set, "folders": list(folders)}
    (out / "seeds.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    if args.record:   # a table for docs/benchmarks (scripts/bench_tables.py)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from record import save
        ok = sum(1 for r in results if r.get("within") and not r.get("collapsed"))
        rows = [row + [docs_grid(r, out, args.record)] for row, r in zip(rows_of(results), results)]
        cmd = "python benchmarks/folder_seeds.py " + " ".join(a for a in (argv or sys.argv[1:]) if a != "--table-only")
        notes = (f"{ok} of {len(results)} runs ended within {BAR}x of the best KID they reached (KID: Inception, "
                 f"the preset's periodic evaluation, {args.n or 'eval.n'} samples against the folder). "
                 "Grid: the run's last sample grid (EMA G, fixed noise), at half size." + (
                     f" {args.notes}" if args.notes else ""))
        title = f"Zero tuning: {args.preset} on {len(folders)} folders x {len(args.seeds.split(','))} seeds"
        path = save(args.record, title, COLUMNS + ["grid"], rows, cmd, notes=notes, page="seeds")
        print(f"[folder_seeds] wrote {path}")


if __name__ == "__main__":
    main()
