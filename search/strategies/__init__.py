"""strategies: how a search turns its space into Tune trials, as registered objects: `trials` (one training per
configuration) and `supernet` (one weight-sharing net per depth). `create_strategy(name)` gives one."""
from . import trials  # noqa: F401,I001 - each module registers its strategy, in the order --help lists them
from . import supernet  # noqa: F401
from .registry import Strategy, Tools, create_strategy, register_strategy, strategy_names

STRATEGIES = strategy_names()

__all__ = ["Strategy", "create_strategy", "register_strategy", "strategy_names", "STRATEGIES"]
