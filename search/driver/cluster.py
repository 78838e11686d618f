"""The Ray cluster a search runs on: a local one started here, or an existing one at --address, checked before use."""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from search.config import SearchConfig
from search.errors import ConfigError

from .interrupt import own_process_group, sigterm_as_ctrl_c

# what workers of a remote cluster do not need from the project folder (virtual environments, stores, results)
RUNTIME_EXCLUDES = [".venv*/", ".git/", "mlflow/*.db", "mlflow/artifacts/", "ray_results/", "runs/", "bench/results/", "reports/", "*.pt", "__pycache__/"]


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Raise ConfigError (one line, within seconds) unless something listens at --address (host:port, ray://host:port or auto)."""
    target = address
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address_or_die  # deferred: imports Ray, which loads after quiet_libraries

        try:
            target = canonicalize_bootstrap_address_or_die("auto")
        except Exception as exc:  # noqa: BLE001 - no cluster to find is the user's --address
            raise ConfigError(f"--address auto: no running Ray cluster found on this machine ({str(exc).splitlines()[0][:120]})") from None
    hostport = target.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at --address {address}: {exc.strerror or exc}") from None


def _init_ray(cfg: SearchConfig) -> None:
    import ray  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if not cfg.address:
        with own_process_group():
            ray.init(**kwargs)
        return
    repo = Path(__file__).resolve().parents[2]
    kwargs["runtime_env"] = {"working_dir": str(repo), "excludes": RUNTIME_EXCLUDES,
                             "env_vars": {"TUNE_FUNCTION_THREAD_TIMEOUT_S": os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S", "30")}}
    try:
        ray.init(address=cfg.address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any connection failure is the user's --address
        raise ConfigError(f"cannot reach the Ray cluster at --address {cfg.address}: {str(exc).splitlines()[0][:200]}") from None


def start_ray(cfg: SearchConfig) -> None:
    """Connect to --address or start a local Ray; check that the GPUs and CPUs asked for exist."""
    import ray  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    if cfg.address:
        check_address(cfg.address)
    elif not ray.is_initialized():  # a local Ray gets this machine's GPUs: check before starting it
        import torch  # deferred: torch; only a local Ray's GPU check needs it

        local = torch.cuda.device_count()
        if cfg.gpus_per_trial > local:
            raise ConfigError(f"--gpus-per-trial {cfg.gpus_per_trial:g} but the cluster has {local} GPU(s) (a local Ray on this machine)")
    if not ray.is_initialized():
        _init_ray(cfg)
    gpus = ray.cluster_resources().get("GPU", 0)
    if cfg.gpus_per_trial > gpus:
        raise ConfigError(f"--gpus-per-trial {cfg.gpus_per_trial:g} but the cluster has {gpus:g} GPU(s)")
    cpus = ray.cluster_resources().get("CPU", 0)
    if cfg.cpus_per_trial > cpus:
        raise ConfigError(f"--cpus-per-trial {cfg.cpus_per_trial:g} but the cluster has {cpus:g} CPU(s)")


def _capacity() -> tuple[float, float]:
    """(CPUs, GPUs) of the connected Ray cluster."""
    import ray  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    resources = ray.cluster_resources()
    return float(resources.get("CPU", 1)), float(resources.get("GPU", 0))


def cluster_capacity(cfg: SearchConfig) -> tuple[float, float]:
    """(CPUs, GPUs) of the cluster at --address (connected here, as the search will be), for planning trials at a time."""
    start_ray(cfg)
    return _capacity()


def cluster_hosts() -> set[str]:
    """The IP addresses of the live nodes of the connected Ray cluster."""
    import ray  # deferred: Ray loads after quiet_libraries (search.driver.quiet)

    return {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}


def parallel_trials(cfg: SearchConfig) -> int:
    """How many trials the connected cluster runs at once at the search's CPUs (and GPUs) a trial."""
    cpus, gpus = _capacity()
    parallel = max(1, int(cpus // cfg.cpus_per_trial))
    if cfg.gpus_per_trial:
        parallel = min(parallel, int(gpus // cfg.gpus_per_trial) or 1)
    return parallel


def start_cluster(cfg: SearchConfig, local_store: bool, uri: str) -> None:
    """Start or reach the search's Ray; a local tracking file with a multi-machine cluster is a ConfigError."""
    start_ray(cfg)  # a bad --address or too many GPUs: fail before anything is written
    sigterm_as_ctrl_c()  # Ray's core worker took SIGTERM over
    hosts = cluster_hosts()
    if local_store and len(hosts) > 1:
        raise ConfigError(f"the Ray cluster spans {len(hosts)} machines but {uri} is a file on this one: start a tracking server "
                          "every node reaches (mlflow/server.sh) and pass --tracking-uri http://HOST:PORT (docs/cluster.md)")
