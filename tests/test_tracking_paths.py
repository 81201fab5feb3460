"""Artifacts stay next to their store: whatever the experiment is called, and after the store
was copied or moved."""

import shutil
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from mlflow.tracking import MlflowClient

from suite.contract import experiment_folder
from suite.tracking import Tracker


def _store(empty_db: Path, folder: Path) -> str:
    folder.mkdir(parents=True)
    shutil.copy(empty_db, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def _log(uri: str, experiment: str, text: str) -> Path:
    """Start a run, log one text artifact, return the file MLflow wrote."""
    tracker = Tracker.connect(uri, experiment)
    run_id = tracker.start("r", {}, {})
    tracker.text(run_id, text, "note.txt")
    tracker.finish(run_id)
    run = MlflowClient(uri).get_run(run_id)
    return Path(url2pathname(urlparse(run.info.artifact_uri).path)) / "note.txt"


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs-experiment", "a/b", "..", "two words"])
def test_an_experiment_name_never_puts_artifacts_outside_the_store(tmp_path, empty_db, name):
    store = tmp_path / "deep" / "er" / "store"
    uri = _store(empty_db, store)
    written = _log(uri, name, "hello").resolve()
    folder = (store / "mlartifacts").resolve()
    assert written.is_relative_to(folder) and written.read_text() == "hello"
    assert written.relative_to(folder).parts[0] == experiment_folder(name)
    outside = [p for p in tmp_path.rglob("*") if not p.resolve().is_relative_to(store.resolve())]
    assert all(p.is_dir() and store.resolve().is_relative_to(p.resolve()) for p in outside)
    assert not Path("/tmp/abs-experiment").exists()


def test_distinct_names_get_distinct_folders():
    names = ["a/b", "a_b", "a b", "a:b", "../a/b", "nightly", "Nightly"]
    assert len({experiment_folder(n) for n in names}) == len(names)
    assert all("/" not in experiment_folder(n) and experiment_folder(n)[0] != "." for n in names)


def test_a_copied_store_writes_its_artifacts_next_to_the_copy(tmp_path, empty_db):
    first = tmp_path / "first"
    old_file = _log(_store(empty_db, first), "qbench", "one")
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    before = sorted(p.relative_to(first) for p in first.rglob("*"))

    uri = f"sqlite:///{copy / 'mlflow.db'}"
    new_file = _log(uri, "qbench", "two").resolve()
    assert new_file.is_relative_to((copy / "mlartifacts" / "qbench").resolve())
    assert sorted(p.relative_to(first) for p in first.rglob("*")) == before  # untouched
    # the copied run is pointed at its copy of the artifacts, which the copy carried along
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("qbench")
    assert exp.artifact_location == (copy / "mlartifacts" / "qbench").resolve().as_uri()
    uris = {r.info.artifact_uri for r in client.search_runs([exp.experiment_id])}
    assert all(u.startswith(exp.artifact_location + "/") for u in uris) and len(uris) == 2
    copied = copy / old_file.relative_to(first)
    assert copied.read_text() == "one"


def test_a_moved_store_keeps_working_where_its_artifacts_went(tmp_path, empty_db):
    first = tmp_path / "first"
    _log(_store(empty_db, first), "qbench", "one")
    moved = tmp_path / "moved"
    first.rename(moved)
    written = _log(f"sqlite:///{moved / 'mlflow.db'}", "qbench", "two").resolve()
    assert written.is_relative_to(moved.resolve()) and not first.exists()
