"""scripts/prune-venvs.sh: old virtual environments go, the one in use, recent, running or foreign ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prune-venvs.sh"
DAY = 86_400


def make_venv(root: Path, name: str, *, age_days: float, complete: bool = True, read_days: float | None = None) -> Path:
    """A directory shaped like one of env.sh's environments, every time stamp ``age_days`` old; ``read_days``:
    when ``pyvenv.cfg`` was last read."""
    venv = root / name
    (venv / "bin").mkdir(parents=True)
    old = time.time() - age_days * DAY
    files = [venv / "pyvenv.cfg", *([venv / ".complete"] if complete else [])]
    for path in files:
        path.touch()
        read = time.time() - read_days * DAY if read_days is not None and path.name == "pyvenv.cfg" else old
        os.utime(path, (read, old))
    os.utime(venv, (old, old))
    return venv


def prune(root: Path, current: str, *days: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), str(root), current, *days], capture_output=True, text=True,
                          check=False)


def test_removes_only_unused_environments_of_other_dependency_lists(tmp_path: Path) -> None:
    current = make_venv(tmp_path, "0" * 16, age_days=30)
    stale = make_venv(tmp_path, "a" * 16, age_days=30)
    broken = make_venv(tmp_path, "b" * 16, age_days=30, complete=False)
    recent = make_venv(tmp_path, "c" * 16, age_days=3)
    read_lately = make_venv(tmp_path, "d" * 16, age_days=30, read_days=1)
    in_use = make_venv(tmp_path, "e" * 16, age_days=30)
    foreign = make_venv(tmp_path, "notes", age_days=30)
    scheduler = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                  str(in_use / "bin" / "vlkge-graph"), "scheduler"])
    try:
        result = prune(tmp_path, current.name)
    finally:
        scheduler.kill()
        scheduler.wait()
    assert result.returncode == 0, result.stderr
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {current.name, recent.name, read_lately.name, in_use.name, foreign.name}
    assert not stale.exists() and not broken.exists()
    assert f"removing virtual environment {stale}" in result.stderr

    assert prune(tmp_path, current.name, "60").returncode == 0  # a longer grace keeps everything left
    assert {p.name for p in tmp_path.iterdir()} == left


def test_a_bad_number_of_days_is_refused(tmp_path: Path) -> None:
    make_venv(tmp_path, "a" * 16, age_days=30)
    result = prune(tmp_path, "0" * 16, "two weeks")
    assert result.returncode == 2
    assert "DAYS must be a whole number, got 'two weeks'" in result.stderr
    assert (tmp_path / ("a" * 16)).exists()
