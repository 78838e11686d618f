"""spaces: the search spaces as registered objects (quick, ablation, arch, full), their shared dimensions, and the
limits a dataset puts on them. `create_space(name)` gives one; an unregistered name is an error."""
from . import quick  # noqa: F401,I001 - each module registers its space, in the order --help lists them
from . import ablation  # noqa: F401
from . import arch  # noqa: F401
from . import full  # noqa: F401
from .ablation import ablation_configs, ablation_patterns
from .full import FULL_PATCHES_PER_EPOCH, describe_full, full_losses
from .limits import PATCH_STEP, SpaceLimits, min_patch
from .registry import DefineByRun, Space, create_space, define_by_run, register_space, space_names

SPACES = space_names()

__all__ = [
    "ablation_configs", "ablation_patterns", "DefineByRun", "define_by_run", "FULL_PATCHES_PER_EPOCH", "describe_full", "full_losses", "PATCH_STEP",
    "SpaceLimits", "min_patch", "Space", "create_space", "register_space", "space_names", "SPACES",
]
