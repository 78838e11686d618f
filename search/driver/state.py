"""A search's state file beside its Tune folder: what `--resume` needs to continue it (names, ids and settings)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from search.config import SearchConfig
from search.errors import ConfigError

STATE_SUFFIX = ".search.json"


def _state_files(cfg: SearchConfig) -> list[Path]:
    return sorted(cfg.storage_path.glob(f"*{STATE_SUFFIX}"), key=lambda p: p.stat().st_mtime)


def state_path(cfg: SearchConfig, search_name: str) -> Path:
    """Where the state of search `search_name` is kept."""
    return cfg.storage_path / f"{search_name}{STATE_SUFFIX}"


def resume_command(cfg: SearchConfig) -> str:
    """The command line that continues this search (its other settings come from its state file)."""
    return (f"python -m search.run --resume --experiment {cfg.experiment}" + (f" --storage {cfg.storage}" if cfg.storage != "ray_results" else "")
            + (f" --tracking-uri {cfg.tracking_uri}" if cfg.tracking_uri else ""))


def unfinished_state(cfg: SearchConfig) -> Path:
    """The state file of the newest unfinished search of cfg's experiment (ConfigError if there is none)."""
    candidates = [p for p in _state_files(cfg) if json.loads(p.read_text()).get("status") != "finished"]
    if not candidates:
        raise ConfigError(f"nothing to resume: no unfinished search of experiment {cfg.experiment!r} under {cfg.storage_path}")
    return candidates[-1]


def resumed_config(cfg: SearchConfig) -> SearchConfig:
    """The settings of the newest unfinished search of cfg's experiment (so `--resume --experiment NAME` alone trains
    its trials on the same data and budget); an explicit --tracking-uri or --address of this call is kept."""
    state = json.loads(unfinished_state(cfg).read_text())
    known = {k: v for k, v in (state.get("config") or {}).items() if k in SearchConfig.__dataclass_fields__}
    known.update(resume=True, dry_run=False, storage=cfg.storage, experiment=cfg.experiment,
                 tracking_uri=cfg.tracking_uri or state.get("tracking_uri"), address=cfg.address or known.get("address"))
    return SearchConfig(**known)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically (a crash leaves the previous one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, path)


def read_state(path: Path) -> dict[str, Any]:
    """A state file's contents."""
    return json.loads(path.read_text())


def resumed_plan(cfg: SearchConfig) -> tuple[dict[str, Any] | None, float]:
    """(the plan of the newest unfinished search of cfg's experiment, the seconds of its budget its sessions used)."""
    state = json.loads(unfinished_state(cfg).read_text())
    return state.get("plan"), float(state.get("budget_used_s", 0.0))
