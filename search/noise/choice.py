"""The final round's choice, default unless better: a search names the default U-Net unless a finalist beats it by more
than the paired noise of their scores on the same folds or seeds (Schneider et al. 2025: tuning returns a configuration
worse than the default in about 10% of runs when it trusts one noisy comparison)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from search.tracking import schema

MARGIN_SE = 1.0  # a finalist must beat the default by more than this many standard errors of the paired mean difference


@dataclass(frozen=True)
class FinalChoice:
    """What the rule chose and why: the best finalist's paired mean margin over the default, its 95% interval and pairs."""

    winner: str
    default: str | None
    challenger: str | None
    margin: float
    low: float
    high: float
    pairs: int
    named_default: bool
    reason: str

    def tags(self) -> dict[str, str]:
        """The choice as parent-run tags (values rounded to 4 places)."""
        r = lambda v: "nan" if not math.isfinite(v) else f"{v:.4f}"  # noqa: E731
        return {schema.FINAL_CHOICE_TAG: self.winner, schema.FINAL_CHOICE_DEFAULT_TAG: str(self.named_default).lower(),
                schema.FINAL_MARGIN_TAG: r(self.margin), schema.FINAL_MARGIN_CI_TAG: f"[{r(self.low)}, {r(self.high)}]",
                schema.FINAL_MARGIN_PAIRS_TAG: str(self.pairs), schema.FINAL_CHOICE_REASON_TAG: self.reason[:500]}


def paired_margin(a: dict[Any, float], b: dict[Any, float]) -> tuple[float, float, float, float, int]:
    """a - b over the folds (or seeds) both were scored on: mean, standard error, 95% t-interval and the number of pairs."""
    shared = sorted(set(a) & set(b), key=str)
    diffs = np.array([a[k] - b[k] for k in shared], dtype=float)
    n = len(diffs)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), float("nan"), 0
    mean = float(diffs.mean())
    if n == 1:
        return mean, float("nan"), float("nan"), float("nan"), 1
    se = float(diffs.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.975, n - 1)) * se
    return mean, se, mean - half, mean + half, n


def choose_final(scores: dict[str, dict[Any, float]], default: str | None, margin_se: float = MARGIN_SE, unit: str = "pairs") -> FinalChoice:
    """The winner among finalists scored on shared folds (`scores`: name -> {fold, seed or validation image: score}): the
    finalist with the best mean, unless `default` is among them and that finalist's paired margin over it is not above
    `margin_se` standard errors (and above 0). With one pair there is no noise to weigh: the default stays. `unit` names
    the pairs in the reason."""
    if not scores:
        raise ValueError("no finalist was scored")
    means = {name: float(np.mean(list(s.values()))) for name, s in scores.items() if s}
    if default is None or default not in scores:
        best = max(means, key=means.get)
        return FinalChoice(best, None, best, float("nan"), float("nan"), float("nan"), 0, False, "no default U-Net beside the finalists")
    rivals = {n: paired_margin(scores[n], scores[default]) for n in scores if n != default}
    if not rivals:
        return FinalChoice(default, default, None, float("nan"), float("nan"), float("nan"), 0, True, "the default U-Net is the only finalist")
    rivals = {n: m for n, m in rivals.items() if m[4] > 0}
    if not rivals:
        return FinalChoice(default, default, None, float("nan"), float("nan"), float("nan"), 0, True, "no finalist shares a fold with the default")
    best = max(rivals, key=lambda n: rivals[n][0])
    mean, se, low, high, n = rivals[best]
    better = n >= 2 and mean > 0 and mean > margin_se * se
    if better:
        reason = f"{best} beats the default by {mean:+.4f} over {n} {unit}, more than {margin_se:g} x its standard error {se:.4f}"
    elif n < 2:
        reason = f"{best} leads by {mean:+.4f} on a single pair: no noise estimate, the default stays"
    else:
        reason = f"{best} leads by {mean:+.4f} over {n} {unit}, within {margin_se:g} x its standard error {se:.4f}: the default stays"
    return FinalChoice(best if better else default, default, best, mean, low, high, n, not better, reason)


def choose_best(scores: dict[str, dict[Any, float]], default: str | None) -> FinalChoice:
    """The finalist with the best mean (one fold each: no paired noise to weigh), with its margin over `default` recorded."""
    means = {name: float(np.mean(list(s.values()))) for name, s in scores.items() if s}
    best = max(means, key=means.get)
    if default is None or default not in scores:
        return FinalChoice(best, None, best, float("nan"), float("nan"), float("nan"), 0, False, f"{best} is the best at the final budget")
    rivals = [n for n in means if n != default]
    top = max(rivals, key=means.get) if rivals else default
    mean, _, low, high, n = paired_margin(scores[top], scores[default]) if rivals else (float("nan"),) * 4 + (0,)
    reason = (f"{best} is the best at the final budget on one fold each ({top} against the default: {mean:+.4f}); "
              "--final-folds 2 or more weighs that against the noise")
    return FinalChoice(best, default, top if rivals else None, mean, low, high, n, best == default, reason)
