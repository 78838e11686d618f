"""A trial's MLflow writes while the tracking store is unreachable: kept on disk in order, sent later, none lost."""
from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from mlflow import MlflowClient
from search.tracking.outbox import DELAYED_TAG, Outbox, drain_folder, is_transient


class Flaky:
    """An MLflow client whose writes fail while `down` is set, as a stopped server's would."""

    def __init__(self, client: MlflowClient):
        self.client, self.down, self.calls = client, False, 0

    def __getattr__(self, name):
        target = getattr(self.client, name)

        def call(*args, **kwargs):
            self.calls += 1
            if self.down:
                raise MlflowException("API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch failed with exception "
                                      "ConnectionError: Connection refused")
            return target(*args, **kwargs)
        return call


@pytest.fixture
def store(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("outbox", artifact_location=str(tmp_path / "artifacts"))
    return client, client.create_run(exp).info.run_id


def test_writes_made_while_the_store_is_down_arrive_later_in_order_with_their_own_time(tmp_path, store):
    client, run_id = store
    flaky = Flaky(client)
    box = Outbox(flaky, run_id, tmp_path / "outbox", quiet_s=0)
    assert box.metrics({"val_dice": 0.1}, 1)
    flaky.down = True
    picture = tmp_path / "tmp" / "validation.png"
    picture.parent.mkdir()
    picture.write_bytes(b"png")
    assert not box.metrics({"val_dice": 0.2, "loss": float("nan")}, 2)
    assert not box.file(picture, "predictions")
    picture.unlink()  # the trial's temporary file is gone; the outbox kept a copy
    assert not box.metrics({"val_dice": 0.3}, 3)
    assert not box.end("FINISHED", {"unet.best_epoch": "3"})
    assert box.pending() == 4
    assert not box.flush() and box.pending() == 4  # still down: nothing lost, nothing sent twice
    flaky.down = False
    assert box.metrics({"val_dice": 0.4}, 4)  # the next write sends the kept ones first
    assert box.pending() == 0 and not box.path.exists() and not box.files.exists()
    run = client.get_run(run_id)
    history = client.get_metric_history(run_id, "val_dice")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    assert history[1].timestamp <= history[3].timestamp and "loss" not in run.data.metrics
    assert run.info.status == "FINISHED" and run.data.tags["unet.best_epoch"] == "3"
    assert run.data.tags[DELAYED_TAG] == "4"
    assert [a.path for a in client.list_artifacts(run_id, "predictions")] == ["predictions/validation.png"]


def test_after_a_failure_writes_wait_without_asking_the_store_again_for_a_while(tmp_path, store):
    client, run_id = store
    flaky = Flaky(client)
    box = Outbox(flaky, run_id, tmp_path / "outbox", quiet_s=60)
    flaky.down = True
    box.metrics({"val_dice": 0.1}, 1)
    calls = flaky.calls
    for step in range(2, 6):
        box.metrics({"val_dice": 0.1}, step)
    assert flaky.calls == calls and box.pending() == 5  # a trial is not slowed by one failed request per write
    flaky.down = False
    assert drain_folder(flaky, tmp_path / "outbox", wait_s=0) == []  # the driver sends what a stopped trial left
    assert len(client.get_metric_history(run_id, "val_dice")) == 5


def test_a_write_the_store_refuses_for_good_is_raised_not_kept(tmp_path, store):
    client, run_id = store
    box = Outbox(client, "no-such-run", tmp_path / "outbox")
    with pytest.raises(MlflowException):
        box.metrics({"val_dice": 0.1}, 1)
    assert box.pending() == 0
    assert is_transient(MlflowException("Connection refused")) and not is_transient(ValueError("bad"))


def test_a_trial_that_cannot_open_its_run_gives_the_stores_own_reason_in_one_line():
    import sqlalchemy.exc

    from search.tracking.outbox import TrackingUnavailable
    from search.trainable.trial import until_reachable

    def full():
        raise sqlalchemy.exc.OperationalError("INSERT INTO runs ...", {}, Exception("database or disk is full"))

    with pytest.raises(TrackingUnavailable) as raised:
        until_reachable(full, "sqlite:///store/mlflow.db", wait_s=0, every_s=0)
    message = str(raised.value)
    assert message.startswith("the tracking store sqlite:///store/mlflow.db did not take writes for 0 s (down, full or read-only): ")
    assert "database or disk is full" in message and "Background on this error" not in message and "\n" not in message
