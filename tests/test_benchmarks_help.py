"""Every benchmark script still imports and answers ``--help``: they run outside CI (minutes to hours), so a
renamed API would otherwise break them unnoticed until someone needs the numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_answers_help(script: str) -> None:
    result = subprocess.run([sys.executable, script, "--help"], cwd=BENCHMARKS, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"{script} --help failed:\n{result.stderr[-2000:]}"
    assert "usage:" in result.stdout.lower(), result.stdout[:500]
