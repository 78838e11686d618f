"""The benchmarks' --smoke modes still run and print their key figure last (the figures themselves are for the full modes)."""
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO
from tests.helpers.search import search_env


@pytest.mark.slow
@pytest.mark.parametrize("bench, last", [("overhead.py", "search CPU utilization:"), ("isbi_variants.py", "cross-entropy mean test F1:"),
                                         ("drive_quality.py", "test F1 "), ("full_search_check.py", "test Dice winner - plain:"),
                                         ("replication.py", "configuration means between the two runs"), ("precision.py", "bf16 - fp32 validation Dice"),
                                         ("search_replay.py", "best noise-aware / random median regret"), ("supernet_rank.py", "Spearman vs a planted truth"),
                                         ("scale.py", "store / in-memory throughput")])
def test_bench_smoke_runs_and_prints_its_ratio_last(tmp_path, bench, last):
    proc = subprocess.run([sys.executable, str(REPO / "bench" / bench), "--smoke"], cwd=tmp_path, env=search_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert last in proc.stdout.strip().splitlines()[-1]
