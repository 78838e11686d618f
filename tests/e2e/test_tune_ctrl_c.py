"""A Tune phase tells a run Ctrl-C stopped from one that ended, on the Ray this project pins (its SIGINT handling is how)."""
import json
import subprocess
import sys

import pytest

from tests.helpers.search import search_env

FIT = """
import json, os, signal, sys, time
import ray
from ray import tune
from search.driver.interrupt import fit_watching_ctrl_c

def trainable(config):
    for i in range(config["epochs"]):
        if config["signal_at"] == i:
            os.kill(config["driver"], signal.SIGINT)  # Ctrl-C reaches the driver while a trial trains
        time.sleep(0.3)
        tune.report({"i": i})

ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
out = {}
for name, signal_at in (("ended", -1), ("ctrl_c", 1)):
    tuner = tune.Tuner(trainable, param_space={"epochs": 30 if signal_at >= 0 else 3, "signal_at": signal_at, "driver": os.getpid()},
                       run_config=tune.RunConfig(name=name, storage_path=sys.argv[1], verbose=0))
    before = signal.getsignal(signal.SIGINT)
    _, stopped = fit_watching_ctrl_c(tuner.fit)
    out[name] = {"stopped": stopped, "handler_back": signal.getsignal(signal.SIGINT) is before}
print("OUT", json.dumps(out))
"""


@pytest.mark.slow
def test_a_tune_run_ctrl_c_stopped_is_told_from_one_that_ended_and_the_handler_goes_back(tmp_path):
    proc = subprocess.run([sys.executable, "-c", FIT, str(tmp_path / "ray")], cwd=tmp_path, env=search_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("OUT ", 1)[1])
    assert out == {"ended": {"stopped": False, "handler_back": True}, "ctrl_c": {"stopped": True, "handler_back": True}}
