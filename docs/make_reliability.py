"""Run every bad input of `python -m search.run` and write docs/reliability.md: what the user sees for each.

    python docs/make_reliability.py            # runs them all (about a minute), rewrites docs/reliability.md
    python docs/make_reliability.py --check    # runs them, fails if any is not one line / exit 2 / nothing written

Each case runs in its own empty folder with its own MLflow store and Tune folder, so "wrote nothing" is
checked for real. tests/e2e/test_search_cli.py runs the same CASES.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "reliability.md"


def corrupt_folder_dataset(tmp: Path) -> list[str]:
    """A generic folder dataset whose third image is not an image."""
    root = tmp / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (64, 64), np.uint8)).save(root / "images" / f"img{i}.png")
        Image.fromarray((rng.random((64, 64)) > 0.8).astype(np.uint8) * 255).save(root / "masks" / f"img{i}.png")
    (root / "images" / "img2.png").write_bytes(b"\x89PNG truncated by a failed copy")
    return ["--dataset", "folder", "--data-root", str(root)]


def grey_mask_dataset(tmp: Path) -> list[str]:
    """A generic folder dataset whose lesion masks were saved as JPEG (dozens of grey values)."""
    root = tmp / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (64, 64), np.uint8)).save(root / "images" / f"img{i}.png")
        disc = (((yy - 28 - i) ** 2 + (xx - 32) ** 2) < 300).astype(np.uint8) * 255
        Image.fromarray(disc).save(root / "masks" / f"img{i}.jpg", quality=70)
    return ["--dataset", "folder", "--data-root", str(root)]


def dangling_link_dataset(tmp: Path) -> list[str]:
    """A generic folder dataset whose first image is a symbolic link to a file that is gone."""
    args = grey_mask_dataset(tmp)
    root = Path(args[-1])
    (root / "images" / "img0.png").unlink()
    (root / "images" / "img0.png").symlink_to(tmp / "moved-away.png")
    return args


@dataclass(frozen=True)
class Case:
    """One bad input: the flags, the part of the message the user must see, and any files it needs."""

    what: str
    args: tuple[str, ...]
    expect: str
    setup: Callable[[Path], list[str]] | None = field(default=None, compare=False)


CASES = [
    Case("unknown space", ("--space", "huge"), "unknown space 'huge'"),
    Case("unknown dataset", ("--dataset", "cityscapes"), "unknown dataset 'cityscapes'"),
    Case("unknown loss", ("--loss", "hinge"), "unknown loss 'hinge'"),
    Case("depth outside the range", ("--depths", "7"), "--depths 7: a U-Net depth must be in 1..5"),
    Case("skip pattern of the wrong length", ("--space", "ablation", "--depths", "4", "--skips", "101"), "--skips 101: 3 bits, but --depths is 4"),
    Case("patch size the depth cannot halve", ("--space", "ablation", "--patch-size", "40"), "--patch-size 40 cannot be halved 4 times"),
    Case("--gpus-per-trial above what the cluster has", ("--gpus-per-trial", "64"), "--gpus-per-trial 64 but the cluster has"),
    Case("unreachable --address", ("--address", "127.0.0.1:9"), "cannot reach the Ray cluster at --address 127.0.0.1:9"),
    Case("unreachable tracking server", ("--tracking-uri", "http://127.0.0.1:9"), "tracking server http://127.0.0.1:9 is unreachable"),
    Case("corrupt image in the data root", (), "img2.png: unreadable image", corrupt_folder_dataset),
    Case("missing data folder", ("--dataset", "drive", "--data-root", "/nonexistent/drive"), "/nonexistent/drive: missing folder"),
    Case("--repeats outside the ablation", ("--repeats", "2"), "--repeats applies to --space ablation"),
    Case("--stop-at above a Dice of 1", ("--stop-at", "1.5"), "--stop-at is a validation Dice in (0, 1]"),
    Case("--folds outside the ablation", ("--folds", "3"), "--folds applies to --space ablation"),
    Case("more folds than training images", ("--space", "ablation", "--folds", "40"), "--folds 40: synthetic has 16 training images"),
    Case("--rerank-top on the ablation", ("--space", "ablation", "--rerank-top", "3"), "--rerank-top applies to Optuna spaces"),
    Case("--final-budget of no epochs", ("--final-budget", "0"), "--final-budget must be at least 1 epoch, got 0"),
    Case("a batch of no patches", ("--space", "ablation", "--batch-size", "0"), "--batch-size must be at least 1, got 0"),
    Case("a negative number of patches an epoch", ("--space", "full", "--patches-per-epoch", "-5"),
         "--patches-per-epoch must be >= 0 (0: every grid patch), got -5"),
    Case("unknown strategy", ("--strategy", "oneshot"), "unknown strategy 'oneshot': choose one of trials, supernet"),
    Case("--strategy supernet outside the arch space", ("--strategy", "supernet"), "--strategy supernet applies to --space arch"),
    Case("a supernet search that trains none of its estimates", ("--space", "arch", "--strategy", "supernet", "--rerank-top", "0"),
         "--rerank-top must be at least 1"),
    Case("unknown precision", ("--precision", "half"), "unknown precision 'half': choose one of auto, fp32, bf16"),
    Case("patch size that is not a number", ("--space", "ablation", "--patch-size", "big"), "--patch-size 'big': give a number of pixels or auto"),
    Case("masks saved as JPEG (grey values, not labels)", (), "not class labels; pass --num-classes 2 to threshold", grey_mask_dataset),
    Case("a dangling symbolic link among the images", (), "img0.png: the image itself cannot be read: a symbolic link to", dangling_link_dataset),
    Case("--num-classes on a dataset with its own classes", ("--dataset", "pet", "--data-root", "/tmp", "--num-classes", "2"),
         "--num-classes applies to the datasets drive, isic, folder"),
]


@dataclass
class Outcome:
    """What one bad input did."""

    case: Case
    command: str
    returncode: int
    stderr: str
    seconds: float
    written: list[str]

    @property
    def ok(self) -> bool:
        """One line containing the expected message, exit code 2, nothing written."""
        lines = self.stderr.strip().splitlines()
        return self.returncode == 2 and len(lines) == 1 and self.case.expect in lines[0] and not self.written


def run_case(case: Case, timeout: float = 120) -> Outcome:
    """Run one bad input in a fresh folder; report the message and anything it left behind."""
    with tempfile.TemporaryDirectory(prefix="bad-input-") as tmp_name:
        tmp = Path(tmp_name)
        extra = case.setup(tmp) if case.setup else []
        before = set(tmp.rglob("*"))
        args = ["--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--storage", str(tmp / "ray"), *extra, *case.args]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
        env.update(PYTHONPATH=str(REPO), UNET_SEARCH_CACHE=str(tmp / "cache"))
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "search.run", *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - start
        written = sorted(str(p.relative_to(tmp)) for p in set(tmp.rglob("*")) - before if not p.relative_to(tmp).parts[0] == "cache")
        shown = " ".join(["python -m search.run", *[a.replace(str(tmp), "DIR") for a in [*extra, *case.args]]])
        return Outcome(case, shown, proc.returncode, proc.stderr.replace(str(tmp), "DIR"), seconds, written)


def run_cases(cases: list[Case], workers: int = 2, timeout: float = 120) -> list[Outcome]:
    """Run the cases, `workers` at a time (each is mostly one process importing the libraries), in their listed order; a
    case still running after `timeout` seconds raises subprocess.TimeoutExpired."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda case: run_case(case, timeout), cases))


def markdown(outcomes: list[Outcome]) -> str:
    """The reliability table."""
    rows = ["# Bad input: what the user sees", "",
            "Generated by `python docs/make_reliability.py` (each case in an empty folder with its own MLflow store and Tune folder; "
            "`tests/e2e/test_search_cli.py` runs the same cases). Every case must print one line on stderr, exit with code 2 and write nothing.", "",
            "| bad input | command | exit | message on stderr | seconds | wrote nothing |", "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        message = o.stderr.strip().replace("|", "\\|").replace("\n", " / ")
        rows.append(f"| {o.case.what} | `{o.command}` | {o.returncode} | `{message}` | {o.seconds:.1f} | "
                    f"{'yes' if not o.written else 'NO: ' + ', '.join(o.written)} |")
    return "\n".join(rows) + "\n"


# faults during a search: what the user sees and what survives, as the named tests measured them on real processes
FAULTS = [
    ("Ctrl-C (SIGINT to the process group) once the first of 4 quick-search trials has finished",
     "within seconds (6 s when first measured, on 6 trials; the test allows 30): `interrupted: N of 4 trials done, the rest marked KILLED or "
     "not started. Continue with: python -m search.run --resume --experiment NAME ...`, exit 130; no summary",
     "the finished trial runs; parent and cut-short trial runs KILLED; `--resume` trained exactly the missing trials, none twice "
     "(4 FINISHED trial runs, one per trial)", "test_search_failures.py::test_ctrl_c_stops_in_seconds..."),
    ("SIGTERM as `timeout` sends it (to the search and to timeout's process group) once the first of 4 quick-search trials has finished",
     "the same as Ctrl-C: `interrupted: N of 4 trials done, ... Continue with: python -m search.run --resume ...`, exit 130; no stack dump "
     "(Ray's own SIGTERM handler is replaced, and a local Ray runs in a process group of its own, so the group's signal reaches the driver alone)",
     "as after Ctrl-C: parent and cut-short trial runs KILLED; `--resume` trained exactly the missing trials, none twice",
     "test_search_failures.py::test_ctrl_c_stops_in_seconds...[timeout-sigterm]"),
    ("the driver and its local Ray killed (SIGKILL) mid-search", "nothing (the process is gone)",
     "finished trials; `--resume` reruns only the unfinished ones, their dead attempts marked FAILED; it takes the search's own settings "
     "(data, budget) from its state file", "test_search_failures.py::test_a_killed_search_resumes..."),
    ("two searches at once on one experiment and one SQLite store", "both finish normally",
     "two parent runs, each with its own 2 trials, none crossed; `PRAGMA integrity_check` ok", "test_search_failures.py::test_two_searches_at_once..."),
    ("Ray fails under the search (its memory monitor killed a trial's process)",
     "`error: the search stopped: Caught unexpected exception: 1 worker(s) were killed due to the node running low on memory. Its N finished "
     "trials are kept; continue with: python -m search.run --resume ...`, exit 1", "finished trials; parent KILLED; the search stays resumable",
     "test_search_failures.py::test_ray_failing_under_the_search..."),
    ("a trial's process dies on more attempts than `--max-failures` allows, or where Ray retries none (a reused process "
     "on a node that just died: Ray 2.60 errors the next trial it hands that process, unretried)",
     "`N trial(s) lost their process or node where Ray does not retry (...): training them again`, then the search goes on to its "
     "normal end, exit 0", "every trial: the lost one trained once more from the start under its own trial id (once, so a trial the "
     "memory monitor kills every time still ends the search; not with `--max-failures 0`, nor after Ctrl-C, `--stop-at` or the "
     "budget's deadline); its dead attempts FAILED", "test_search_failures.py::test_a_trial_ray_gave_up_on..."),
    ("the `mlflow server` killed (SIGKILL) mid-search for 15 s, then restarted (4-trial ablation, 8 epochs each)",
     "nothing while it is down; trials keep training. At the end the normal summary plus `tracking: the store was unreachable for a while; "
     "N trial runs kept their writes and sent them late`, exit 0",
     "every trial: 4 FINISHED runs, one per trial; all 32 epochs' metrics, each once, with their own timestamps; every checkpoint. 13 epochs "
     "trained during the outage; 16 writes waited on disk (the trial's outbox in the Tune folder) and arrived once the server was back "
     "(tag `unet.tracking_delayed` counts them)", "test_cluster.py::test_a_search_outlives_its_tracking_server..."),
    ("the disk under the SQLite store fills mid-search (a 24 MB tmpfs filled to the last byte)",
     "trials keep training; the driver waits `UNET_SEARCH_TRACKING_WAIT_S` (300 s) for the store, then one line: `error: the tracking store "
     "sqlite:///... did not take writes for 300 s (down, full or read-only). Tune's results and the trials' unsent writes are kept in DIR; "
     "once the store takes writes again, continue with: python -m search.run --resume --experiment NAME ...`, exit 1",
     "the store: `PRAGMA integrity_check` ok. 2 of 4 trials had finished before the disk filled; once space was back, the printed `--resume` "
     "command sent the others' 8 kept writes and ended with 4 FINISHED runs, one per trial, every epoch once, every checkpoint",
     "test_store_faults.py::test_a_full_disk_under_the_store..."),
    ("a trial starts while the store takes no writes",
     "it waits up to `UNET_SEARCH_START_WAIT_S` (600 s) for the store to open its run, then gives up; the search ends with one line: `error: "
     "N trials could not start: the tracking store sqlite:///... did not take writes for 600 s (down, full or read-only): (sqlite3.OperationalError) "
     "database or disk is full. Finished trials are kept; once the store takes writes again (...), continue with: python -m search.run --resume ...`, "
     "exit 1 (or with the line above, if the driver's own wait ran out first)",
     "finished trials; `--resume` trains the unstarted ones from the start",
     "the full-disk test: which of the two lines ends it depends on whether trials were opening their runs as the disk filled, and it accepts either"),
]
NOT_TRIED = ("A store that is read-only takes the same path as a full one (SQLite's \"attempt to write a readonly database\" counts as a "
             "store that may take writes later); that case was not run on real processes. Ctrl-C while a search re-ranks its best "
             "configurations at the final budget goes through the same interrupted / `--resume` path; it has no test of its own.")


def faults_markdown() -> str:
    """The faults table (figures from the tests named in it)."""
    rows = ["", "## Faults during a search", "", "Measured by the tests named in the last column, on real processes. A search's memory stays flat "
            "over its trials: each trial hands its memory back before Tune reuses the process (before, ISIC trial processes grew 0.4 GB a "
            "trial until Ray killed them).", "", "| fault | what the user sees | what survives | test |", "| --- | --- | --- | --- |"]
    rows += [f"| {f} | {seen} | {kept} | `{test}` |" for f, seen, kept, test in FAULTS]
    return "\n".join([*rows, "", NOT_TRIED]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every case; write the table unless --check; non-zero when a case misbehaves."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only run and verify; do not rewrite docs/reliability.md")
    a = p.parse_args(argv)
    outcomes = run_cases(CASES)
    bad = [o for o in outcomes if not o.ok]
    for o in bad:
        print(f"MISBEHAVES: {o.case.what}: exit {o.returncode}, wrote {o.written}, stderr {o.stderr.strip()[-300:]!r}", file=sys.stderr)
    if not a.check:
        OUT.write_text(markdown(outcomes) + faults_markdown())
        print(f"wrote {OUT} ({len(outcomes)} cases)")
    print(f"{len(outcomes) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
