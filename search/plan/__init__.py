"""Planning a search to the user's budget: the wall-clock `budget`, the measured `cost` model, the `planner` and the
plans file (`plan`), with what the planner reads (`inputs`) and the working resolution it picks (`resolution`)."""
from .budget import Budget, duration, parse_budget
from .cost import CostModel, MeasuredCost, PlantedCost
from .inputs import PlanInputs
from .plan import PLANNED, Plan, data_key
from .asha import asha_epochs
from .planner import minimum_seconds, plan_defaults, plan_for_budget

__all__ = ["Budget", "CostModel", "MeasuredCost", "PLANNED", "Plan", "PlanInputs", "PlantedCost", "asha_epochs", "data_key", "duration",
           "minimum_seconds", "parse_budget", "plan_defaults", "plan_for_budget"]
