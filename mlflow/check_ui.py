"""Check in a real headless browser that the address a search prints opens MLflow's runs table with metric columns, and
that the search's model is on the experiment's Models page and in the Model Registry.

    python mlflow/check_ui.py [--out docs/mlflow-ui.png] [--models-out docs/mlflow-models.png] [--chromium /usr/bin/chromium]

Runs a seconds-long search (`--smoke-test`) into a temporary store, starts `mlflow ui` on it as the README says,
opens the "then open ..." address the search printed (its port swapped for a free one) in headless Chromium, then
the experiment's Models page and the registered model's page, saves a screenshot of each and fails (exit 1, one
line) unless the first is the runs table, in "Model training" mode, with the trials and the metric columns, the
second lists the chosen model with its source run and registered version, and the third shows that version with
its tags. Exit 2: no Chromium (install Debian's `chromium`).
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
EXPERIMENT = "ui-check"  # the smoke search's experiment, and so the name its model is registered under
TRIAL_NAME = r"d\d-s[01]+-\w+-p\d+"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--virtual-time-budget=25000"]
WINDOW = "--window-size=1600,1000"
WIDE = "--window-size=2000,900"  # the Models table's "Registered models" column sits right of MLflow's assistant panel


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_search(store: Path) -> str:
    """Run a smoke search into `store` and return the UI address it printed."""
    cmd = [sys.executable, "-m", "search.run", "--smoke-test", "--experiment", EXPERIMENT, "--tracking-uri", f"sqlite:///{store / 'mlflow.db'}",
           "--storage", str(store / "ray")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    found = re.search(r"then open (\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        sys.exit(f"error: the smoke search failed or printed no UI address (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return found.group(1)


def start_ui(store: Path, port: int) -> subprocess.Popen:
    """`mlflow ui` on the store (this interpreter's MLflow), as mlflow/README.md starts it, once it answers; one that does not
    come up is reported with its last stderr lines."""
    log = open(store / "mlflow-ui.log", "w+b")  # noqa: SIM115 - read back if the server dies
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=store, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(1)
    proc.kill()
    proc.wait(timeout=30)
    log.seek(0)
    tail = " | ".join(log.read().decode(errors="replace").strip().splitlines()[-3:])
    log.close()
    sys.exit(f"error: mlflow ui {'exited with ' + str(proc.returncode) if proc.returncode is not None else 'did not answer within 180 s'}: {tail}")


def browse(chromium: str, url: str, out: Path, window: str = WINDOW) -> str:
    """The page's DOM after its scripts ran; its screenshot goes to `out`."""
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *CHROMIUM_FLAGS, window, f"--user-data-dir={profile}"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
    with tempfile.TemporaryDirectory() as profile:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([chromium, *CHROMIUM_FLAGS, window, f"--user-data-dir={profile}", f"--screenshot={out}", url], capture_output=True, timeout=180)
    return dom


def text_of(dom: str) -> str:
    """The page's visible words."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def page_problems(dom: str) -> list[str]:
    """What is wrong with the rendered runs page (empty: it is the runs table with the metric columns)."""
    text = text_of(dom)
    missing = [w for w in MUST_SHOW if w not in text]
    unwanted = [w for w in MUST_NOT_SHOW if w in text]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if unwanted:
        problems.append(f"shows the GenAI overview ({', '.join(unwanted)})")
    if not re.search(TRIAL_NAME, text):
        problems.append("no trial run (d<depth>-s<skips>-...) in the table")
    return problems


def models_problems(dom: str) -> list[str]:
    """What is wrong with the experiment's Models page (empty: it lists the chosen model, its source run and its registered version)."""
    text = text_of(dom)
    problems = [f"missing {w}" for w in ("Models", "Source run", "Registered models", "Ready") if w not in text]
    if not re.search(rf"{TRIAL_NAME}.*{EXPERIMENT} v1", text):
        problems.append(f"no model of a trial run registered as {EXPERIMENT} v1")
    return problems


def registry_problems(dom: str) -> list[str]:
    """What is wrong with the registered model's page (empty: it shows version 1 with the search's tags)."""
    text = text_of(dom)
    return [f"missing {w}" for w in ("Registered Models", EXPERIMENT, "Version 1", "configuration", "test_dice", "dataset : synthetic") if w not in text]


def check_pages(chromium: str, printed: str, port: int, shots: dict[str, Path]) -> list[str]:
    """Browse the runs table (the printed address), the experiment's Models page and the registered model; the problems found."""
    url = printed.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    experiment = re.search(r"#/experiments/(\d+)/", url).group(1)
    base = f"http://127.0.0.1:{port}/#"
    pages = [("runs", url, WINDOW, page_problems), ("models", f"{base}/experiments/{experiment}/models?workflowType=machine_learning", WIDE, models_problems),
             ("registry", f"{base}/models/{EXPERIMENT}?workflowType=machine_learning", WINDOW, registry_problems)]
    problems = []
    for name, address, window, judge in pages:
        problems += [f"{name} page {address}: {p}" for p in judge(browse(chromium, address, shots[name], window))]
    return problems


def main() -> int:
    """Search, serve, browse, judge."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "mlflow-ui.png", help="the runs table's screenshot (default docs/mlflow-ui.png)")
    p.add_argument("--models-out", type=Path, default=REPO / "docs" / "mlflow-models.png",
                   help="the Models page's screenshot (default docs/mlflow-models.png); the registry page's goes beside it as *-registry.png")
    p.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "", help="the browser (default: chromium on PATH)")
    a = p.parse_args()
    if not a.chromium:
        print("error: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    shots = {"runs": a.out, "models": a.models_out, "registry": a.models_out.with_name(a.models_out.stem + "-registry.png")}
    with tempfile.TemporaryDirectory(prefix="ui-check-") as tmp:
        store = Path(tmp)
        printed = run_search(store)
        port = free_port()
        ui = start_ui(store, port)
        try:
            problems = check_pages(a.chromium, printed, port, shots)
        finally:
            ui.terminate()
            ui.wait(timeout=30)
    if problems:
        print(f"FAIL {'; '.join(problems)} (screenshots {', '.join(str(s) for s in shots.values())})", file=sys.stderr)
        return 1
    print(f"ok: {printed} opens the runs table with the metric columns; the Models page lists the chosen model, registered as "
          f"{EXPERIMENT} v1 (screenshots {', '.join(str(s) for s in shots.values())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
