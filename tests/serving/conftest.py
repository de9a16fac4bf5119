"""Toy exports of all five tasks in TF Serving's layout (exports/<task>/<version>/), trained
once per test session, and a running app over them."""

import shutil

import pytest
from starlette.testclient import TestClient

from common.export import export_run
from common.trainer import train
from serving.app import ServerSettings, create_app
from serving.models import ModelStore, find_models
from tasks import get_task
from tests.tasks.generation.toy import TINY as GENERATION
from tests.tasks.generation.toy import toy_text, write_text
from tests.tasks.sentiment.toy import TINY, review_rows, write_csv
from tests.tasks.tagging.toy import conll, toy_config, write
from tests.tasks.timeseries.toy import config_for, toy_csv
from tests.tasks.translation.toy import TINY as TRANSLATION
from tests.tasks.translation.toy import number_pairs, write_tsv


def toy_runs(folder):
    """One finished toy run per task: {task name: run folder}."""
    from common.config import apply_overrides
    from tasks.tagging import data as tagging_data

    sentiment = get_task("sentiment")
    reviews = write_csv(folder / "reviews.csv", review_rows(200))
    runs = {"sentiment": train(sentiment, apply_overrides(sentiment.Config(), [f"dataset={reviews}", *TINY]))}
    wnut = tagging_data.read_wnut16()
    sentences = [list(zip(tokens, tags)) for tokens, tags in zip(wnut.tokens[:80], wnut.tags[:80])]
    write(folder / "train.conll", conll(sentences))
    runs["tagging"] = train(get_task("tagging"), toy_config(dataset=str(folder / "train.conll"), max_length=12))
    runs["timeseries"] = train(get_task("timeseries"), config_for(toy_csv(folder), "horizon=2"))
    generation = get_task("generation")
    book = write_text(folder / "book.txt", toy_text())
    runs["generation"] = train(generation, apply_overrides(generation.Config(), [f"dataset={book}", *GENERATION]))
    translation = get_task("translation")
    pairs = write_tsv(folder / "pairs.tsv", number_pairs(200))
    options = [f"dataset={pairs}", "epochs=1", *TRANSLATION]
    runs["translation"] = train(translation, apply_overrides(translation.Config(), options))
    return runs


@pytest.fixture(scope="session")
def toy_exports(tmp_path_factory):
    """exports/ with version 1 of every task; and their runs."""
    folder = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNN_SUITE_RUNS", str(folder / "runs"))
        runs = toy_runs(folder)
    exports = folder / "exports"
    for name, run_path in runs.items():
        export_run(get_task(name), run_path, exports / name / "1")
    return exports, runs


@pytest.fixture
def exports(toy_exports, tmp_path):
    """A private copy of the toy exports, which a test may change (new versions...)."""
    copy = tmp_path / "exports"
    shutil.copytree(toy_exports[0], copy)
    return copy


def server_settings(**overrides) -> ServerSettings:
    """The server's settings for a test: the defaults and `overrides`, with the heavy
    workers at the server's own priority. The default, nice 19 under SCHED_IDLE, gets no
    CPU at all while anything else keeps the cores busy (`make test`'s other worker, a
    training job), so heavy requests would miss their deadlines; these tests check
    answers, and test_worker.py checks the priority itself."""
    return ServerSettings(**{"heavy_niceness": 0, **overrides})


def serve(exports, poll_seconds=0.2, **overrides):
    """A TestClient over a fresh app serving `exports` (use it in a `with` block)."""
    store = ModelStore(lambda: find_models(exports), poll_seconds=poll_seconds)
    return TestClient(create_app(store, server_settings(**overrides)))


@pytest.fixture(scope="module")
def client(toy_exports):
    """One app over the shared toy exports, for tests that only read."""
    with serve(toy_exports[0]) as running:
        yield running
