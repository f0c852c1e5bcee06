"""The report in a real browser: headless Chromium opens it from file://, makes no network request, logs nothing
to the console (any blocked fetch, script error or console.error would be logged), runs its script, and draws
a page that is not blank."""
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY
from PIL import Image

from gankit import api
from gankit.report.page import CSP

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; "
                                                        "CI's .ci/run installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]


def chromium(page: Path, *action: str):
    """Run Chromium on file://page with a fresh profile; returns (console lines, page-initiated requests, stdout)."""
    with tempfile.TemporaryDirectory() as profile:
        net = Path(profile) / "net.json"
        proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}/p", f"--log-net-log={net}",
                               *action, page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
        console = [l for l in proc.stderr.splitlines() if ":CONSOLE" in l]
        log = json.loads(net.read_text()) if net.is_file() else {"events": [], "constants": {"logEventTypes": {}}}
    start = log["constants"]["logEventTypes"].get("URL_REQUEST_START_JOB")
    # the browser's own background requests carry no origin; anything the page asks for carries its origin
    starts = [e["params"] for e in log["events"] if e.get("type") == start and "url" in e.get("params", {})]
    requests = [p["url"] for p in starts if p.get("initiator") != "not an origin"]
    return console, requests, proc.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    from conftest import digit_images, write_idx
    root = tmp / "mnist-root"
    root.mkdir()
    for split, n in (("train", 64), ("t10k", 32)):
        write_idx(root / f"{split}-images-idx3-ubyte", digit_images(n, seed=n))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    run = api.train("mnist-mlp", TINY + ["train.steps=8", "train.batch_size=16", f"data.root={root}",
                                         "sample.every=2", "log.every=2", "model.g_hidden=[32]",
                                         "model.d_hidden=[32]", "train.diagnose=false"],
                    out=str(tmp / "run"), verbose=False)
    return run / "report.html"


def test_report_opens_offline_quietly_and_draws_a_page(report, tmp_path):
    shot = tmp_path / "shot.png"
    console, requests, _ = chromium(report, f"--screenshot={shot}", "--window-size=1200,2400")
    assert console == [], console
    assert requests == [], requests
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    background = np.array([0xF6, 0xF6, 0xF4])
    assert (np.abs(img - background).sum(-1) > 30).mean() > 0.05  # text, charts and pictures, not an empty page
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_the_script_runs(report):
    console, _, dom = chromium(report, "--dump-dom")
    assert console == []
    assert 'id="film-step">step 8 (5 of 5)</span>' in dom  # the slider's label is written by the inline script


def test_the_checks_catch_a_page_that_reaches_out(tmp_path):
    """The same checks on pages that try to fetch: without the policy the request shows in the network log;
    with it the browser blocks the request and says so in the console."""
    fetch = '<img src="http://127.0.0.1:9/x.png"><script>console.error("boom")</script>'
    open_page = tmp_path / "open.html"
    open_page.write_text(f"<!DOCTYPE html><html><body>{fetch}</body></html>")
    console, requests, _ = chromium(open_page, "--dump-dom")
    assert requests == ["http://127.0.0.1:9/x.png"] and any("boom" in l for l in console)
    locked = tmp_path / "locked.html"
    locked.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
                      f"</head><body>{fetch}</body></html>")
    console, requests, _ = chromium(locked, "--dump-dom")
    assert requests == [] and any("Content Security Policy" in l for l in console)
