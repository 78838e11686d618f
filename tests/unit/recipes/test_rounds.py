"""A time-limited training with saliency rounds shares its limit among them, by their planned epochs, each round given
what the earlier ones left."""

import pytest

from recipes.params import TrialParams
from recipes.rounds import Rounds

SALIENT = TrialParams(epochs=4, saliency_percentile=50, saliency_iterations=2, saliency_epochs=2)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_each_round_gets_the_time_left_by_its_share_of_the_epochs_left():
    clock = Clock()
    rounds = Rounds(SALIENT, 80.0, clock)
    assert rounds.epochs == [4, 2, 2] and rounds.offset(0) == 0
    assert rounds.limit(0) == pytest.approx(40.0)  # 4 of 8 epochs
    clock.now += 30.0  # the first round (and the saliency maps after it) took 30 s: 50 left for two rounds of 2
    assert rounds.limit(1) == pytest.approx(25.0)
    clock.now += 40.0  # the second ran long: 10 s left for the last round
    assert rounds.limit(2) == pytest.approx(10.0)


def test_a_round_whose_time_is_spent_gets_one_epochs_worth_and_no_limit_stays_none():
    clock = Clock()
    rounds = Rounds(SALIENT, 10.0, clock)
    rounds.limit(0)
    clock.now += 60.0
    assert 0 < rounds.limit(1) <= 1e-3
    assert Rounds(SALIENT, None, clock).limit(0) is None
    assert Rounds(TrialParams(epochs=5), 30.0, clock).limit(0) == 30.0  # one round: the whole limit


def test_rounds_number_their_epochs_on_from_those_trained_and_report_the_trainings_end():
    rounds = Rounds(SALIENT, 80.0)
    assert rounds.reported(0, {"epoch": 3, "last_epoch": 3})["last_epoch"] == 7  # this round ends at 3, two rounds of 2 follow
    rounds.done(3)  # the limit ended the first round at 3 of its 4
    rounds.done(2)
    assert (rounds.offset(1), rounds.offset(2)) == (3, 5)  # no epoch number left unused
    assert rounds.reported(1, {"epoch": 5, "last_epoch": 5})["last_epoch"] == 7
    assert rounds.reported(2, {"epoch": 6, "last_epoch": 6})["last_epoch"] == 6  # the last round's own end is the training's
    assert "last_epoch" not in rounds.reported(0, {"epoch": 3})  # no limit: nothing added
