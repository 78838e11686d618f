"""What the driver lends the strategies: the Tune and final-round pieces a strategy's phase and finish use. The driver
imports the strategies and hands them these, so no strategy imports the driver (search.strategies.registry.Tools)."""
from __future__ import annotations

from search.strategies import Tools

from .final import default_unet_config, rerank_at_final_budget, train_at_final_budget
from .tuner import make_scheduler, make_searcher, tune_config

TOOLS = Tools(tune_config=tune_config, make_searcher=make_searcher, make_scheduler=make_scheduler, default_unet_config=default_unet_config,
              rerank_at_final_budget=rerank_at_final_budget, train_at_final_budget=train_at_final_budget)
