"""Check in a real headless browser that the address a search prints opens MLflow's runs table with metric columns.

    python mlflow/check_ui.py [--out docs/mlflow-ui.png] [--chromium /usr/bin/chromium]

Runs a seconds-long search (`--smoke-test`) into a temporary store, starts `mlflow ui` on it as the README says,
opens the "then open ..." address the search printed (its port swapped for a free one) in headless Chromium,
saves a screenshot and fails (exit 1, one line) unless the page is the runs table, in "Model training" mode, with the
trials and the metric columns. Exit 2: no Chromium (install Debian's `chromium`).
"""
from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# what a newcomer must see: the runs table's own headings and the metric columns of the trials view
MUST_SHOW = ("Runs", "best_val_dice", "test_dice", "depth")
# what MLflow's GenAI overview shows instead
MUST_NOT_SHOW = ("Detect Issues", "Token Usage", "Start tracing")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1600,1000", "--virtual-time-budget=25000"]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_search(store: Path) -> str:
    """Run a smoke search into `store` and return the UI address it printed."""
    cmd = [sys.executable, "-m", "search.run", "--smoke-test", "--experiment", "ui-check", "--tracking-uri", f"sqlite:///{store / 'mlflow.db'}",
           "--storage", str(store / "ray")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    found = re.search(r"then open (\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        sys.exit(f"error: the smoke search failed or printed no UI address (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return found.group(1)


def start_ui(store: Path, port: int) -> subprocess.Popen:
    """`mlflow ui` on the store, as mlflow/README.md starts it, once it answers."""
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    proc = subprocess.Popen([mlflow, "ui", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"error: mlflow ui exited with {proc.returncode}")
            time.sleep(1)
    proc.kill()
    sys.exit("error: mlflow ui did not answer within 180 s")


def browse(chromium: str, url: str, out: Path) -> str:
    """The page's DOM after its scripts ran; its screenshot goes to `out`."""
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
    with tempfile.TemporaryDirectory() as profile:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url], capture_output=True, timeout=180)
    return dom


def page_problems(dom: str) -> list[str]:
    """What is wrong with the rendered page (empty: it is the runs table with the metric columns)."""
    text = re.sub(r"<[^>]+>", " ", dom)
    missing = [w for w in MUST_SHOW if w not in text]
    unwanted = [w for w in MUST_NOT_SHOW if w in text]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if unwanted:
        problems.append(f"shows the GenAI overview ({', '.join(unwanted)})")
    if not re.search(r"d\d-s[01]+-\w+-p\d+", text):
        problems.append("no trial run (d<depth>-s<skips>-...) in the table")
    return problems


def main() -> int:
    """Search, serve, browse, judge."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "mlflow-ui.png", help="the screenshot (default docs/mlflow-ui.png)")
    p.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "", help="the browser (default: chromium on PATH)")
    a = p.parse_args()
    if not a.chromium:
        print("error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ui-check-") as tmp:
        store = Path(tmp)
        printed = run_search(store)
        port = free_port()
        url = printed.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
        ui = start_ui(store, port)
        try:
            dom = browse(a.chromium, url, a.out)
        finally:
            ui.terminate()
            ui.wait(timeout=30)
    problems = page_problems(dom)
    if problems:
        print(f"FAIL {url}: {'; '.join(problems)} (screenshot {a.out})", file=sys.stderr)
        return 1
    print(f"ok: {printed} opens the runs table with the metric columns (screenshot {a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
