"""Where dataset source files come from: the shared dataset folder, installed wheels, npm and Debian packages.

Every lookup either returns a local path or raises SourceMissingError saying how to obtain the source,
so a missing dataset is a clear message, never a traceback deep inside a reader.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from vlkge_graph.errors import SourceMissingError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def cache_dir(*parts: str) -> Path:
    """Per-user cache (``$VLKGE_CACHE`` or ``$XDG_CACHE_HOME/vlkge-graph``), created on demand."""
    base = os.environ.get("VLKGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vlkge-graph"
    )
    path = Path(base, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_dir() -> Path:
    """The shared material folder: ``$VLKGE_SHARED`` or ``../shared`` beside the project root."""
    return Path(os.environ.get("VLKGE_SHARED") or PROJECT_ROOT.parent / "shared")


def shared_dataset(*parts: str) -> Path:
    """A path under ``shared/datasets``; raises with instructions when it is absent."""
    path = shared_dir().joinpath("datasets", *parts)
    if not path.exists():
        raise SourceMissingError(
            f"dataset file {path} is missing. Put the project's shared folder beside the project "
            "(../shared/datasets/...) or point $VLKGE_SHARED at a folder holding datasets/"
            + "/".join(parts)
        )
    return path


def pykeen_dataset_dir(name: str) -> Path:
    """The folder of a dataset shipped inside the pykeen wheel (nations, kinships, umls).

    Found without importing pykeen (which would import torch and take seconds).
    """
    spec = importlib.util.find_spec("pykeen")
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissingError(f"dataset {name!r} is read from the pykeen wheel: pip install 'pykeen==1.11.1'")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    if not path.is_dir():
        raise SourceMissingError(f"the installed pykeen ships no {name!r} dataset folder at {path}")
    return path


def npm_package(name: str, version: str) -> Path:
    """Download an npm package once with ``npm pack`` and return its unpacked ``package/`` folder."""
    target = cache_dir("npm", f"{name.replace('/', '_')}-{version}")
    package = target / "package"
    if package.is_dir():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise SourceMissingError(f"npm package {name}@{version} is needed and npm is not installed")
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        result = subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=tmp,
                                capture_output=True, text=True, check=False)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise SourceMissingError(
                f"could not download npm package {name}@{version}: {result.stderr.strip()[-500:]}"
            )
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(tmp, filter="data")
        Path(tmp, "package").rename(package)
    return package
