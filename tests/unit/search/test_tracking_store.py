"""The local MLflow store is opened while Ray starts: the search gets a working store, a failed start leaves none."""
import tempfile
import time
from pathlib import Path

from search.tracking.client import (
    LocalStoreOpener,
    check_tracking,
    get_or_create_experiment,
)


def test_a_store_prepared_in_the_background_is_moved_into_place_usable_and_kept(tmp_path):
    db = tmp_path / "mlflow" / "mlflow.db"
    uri = f"sqlite:///{db}"
    before = set(Path(tempfile.gettempdir()).glob("mlflow-store-*"))
    opener = LocalStoreOpener(uri)
    (scratch,) = set(Path(tempfile.gettempdir()).glob("mlflow-store-*")) - before
    deadline = time.monotonic() + 30
    while not (scratch / "mlflow.db").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    built = (scratch / "mlflow.db").stat().st_ino  # the schema is built off the caller's thread, not at the store's path
    assert not db.exists()
    client = opener.client()
    assert db.stat().st_ino == built and not scratch.exists()  # the prepared file itself became the store
    exp_id = get_or_create_experiment(client, "opened", uri)
    assert client.get_experiment(exp_id).name == "opened"
    assert check_tracking(uri, create=False).get_experiment_by_name("opened") is not None  # on disk, seen by a new client


def test_discarding_leaves_nothing_and_never_touches_an_existing_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    scratch = set(Path(tempfile.gettempdir()).glob("mlflow-store-*"))
    opener = LocalStoreOpener(uri)
    time.sleep(0.2)  # the schema is being built meanwhile
    opener.discard()
    assert not (tmp_path / "mlflow").exists()
    assert set(Path(tempfile.gettempdir()).glob("mlflow-store-*")) <= scratch  # its scratch schema is gone too

    get_or_create_experiment(check_tracking(uri), "kept", uri)
    LocalStoreOpener(uri).discard()
    assert check_tracking(uri, create=False).get_experiment_by_name("kept") is not None


def test_finishing_a_search_closes_a_trial_run_no_live_trial_owns(tmp_path):
    """A crash can leave a trial run RUNNING whose trial the resumed search never took up: once the search finishes it is
    marked FAILED (attempt lost), the trials that finished stay as they were, and the parent reads FINISHED."""
    from types import SimpleNamespace

    from search.driver.session import SearchSession
    from search.tracking import client as tracking
    from search.tracking import schema

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = check_tracking(uri)
    exp = get_or_create_experiment(client, "orphan", uri)
    parent = client.create_run(exp, tags={tracking.ROLE_TAG: "search"}).info.run_id
    trial = {tracking.PARENT_TAG: parent, tracking.ROLE_TAG: "trial"}
    done = client.create_run(exp, tags={**trial, tracking.TRIAL_TAG: "a"}).info.run_id
    tracking.end_run(client, done, "FINISHED")
    orphan = client.create_run(exp, tags={**trial, tracking.TRIAL_TAG: "b"}).info.run_id
    ctx = SimpleNamespace(experiment_id=exp, parent_run_id=parent)
    session = SearchSession(cfg=None, space=None, strategy=None, data=None, limits=None, client=client, ctx=ctx,
                            search_name="s", state_path=tmp_path / "state.json")
    session.finish()
    assert client.get_run(done).info.status == "FINISHED"
    lost = client.get_run(orphan)
    assert lost.info.status == "FAILED" and "attempt lost" in lost.data.tags[schema.ERROR_TAG]
    assert client.get_run(parent).info.status == "FINISHED"
