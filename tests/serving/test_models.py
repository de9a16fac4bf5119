"""Versions: the newest answers, a new one is swapped in while serving without losing a
request, a broken one is logged while the others keep serving and retried when its folder
changes, and removed ones free their batchers and memory."""

import concurrent.futures
import ctypes
import gc
import os
import shutil
import threading
import time
import weakref
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from common.errors import UserError
from serving.app import background_server, create_app
from serving.models import ModelStore, find_models
from tests.serving.conftest import server_settings


def add_version(base, number, source=1):
    """Copy version `source` to `number` the way an export appears: whole, by a rename."""
    staging = base / f".staging-{number}"
    shutil.copytree(base / str(source), staging)
    staging.rename(base / str(number))


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_poll_loads_new_versions_remembers_broken_ones_and_drops_removed_ones(exports):
    store = ModelStore(lambda: find_models(exports), poll_seconds=60)
    store.poll()
    model = store.models["sentiment"]
    assert sorted(model.versions) == [1] and store.get("sentiment").version == 1
    add_version(exports / "sentiment", 2)
    (exports / "sentiment" / "3").mkdir()
    (exports / "sentiment" / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
    store.poll()
    assert sorted(model.versions) == [1, 2] and store.get("sentiment").version == 2
    assert 3 in model.failed and store.get("sentiment", version=1).version == 1
    shutil.rmtree(exports / "sentiment" / "1")
    store.poll()
    assert sorted(model.versions) == [2]


def test_models_folders_given_by_hand(exports, tmp_path):
    bases = find_models(tmp_path / "nowhere", f"mine={exports / 'tagging'},{exports / 'sentiment'}")
    assert bases == {"mine": exports / "tagging", "sentiment": exports / "sentiment"}
    with pytest.raises(UserError, match="is a SavedModel; give the folder above it"):
        find_models(tmp_path, str(exports / "tagging" / "1"))
    with pytest.raises(UserError, match="is not a folder"):
        find_models(tmp_path, str(tmp_path / "missing"))


def test_a_version_swapped_in_under_load_loses_no_request(exports):
    store = ModelStore(lambda: find_models(exports), poll_seconds=0.1)
    with background_server(create_app(store, server_settings(batch_wait_ms=5))) as url:
        stop, codes = threading.Event(), []

        def keep_asking():
            with httpx.Client(base_url=url, timeout=60) as http:
                while not stop.is_set():
                    answer = http.post("/v1/models/sentiment:predict", json={"instances": ["good film", "dull"]})
                    codes.append(answer.status_code)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(keep_asking) for _ in range(8)]
            wait_for(lambda: len(codes) > 20)
            add_version(exports / "sentiment", 2)
            wait_for(lambda: sorted(store.models["sentiment"].versions) == [1, 2])
            (exports / "sentiment" / "3").mkdir()
            (exports / "sentiment" / "3" / "saved_model.pb").write_bytes(b"broken")
            shutil.rmtree(exports / "sentiment" / "1")
            wait_for(
                lambda: sorted(store.models["sentiment"].versions) == [2] and 3 in store.models["sentiment"].failed
            )
            served_before = len(codes)
            wait_for(lambda: len(codes) > served_before + 20)
            stop.set()
            for client in clients:
                client.result()
        status = httpx.get(f"{url}/v1/models/sentiment").json()["model_version_status"]
    assert set(codes) == {200} and len(codes) > 40
    assert [(entry["version"], entry["state"]) for entry in status] == [("2", "AVAILABLE"), ("3", "END")]
    assert status[1]["status"]["error_code"] == "UNKNOWN" and status[1]["status"]["error_message"]


def break_version(base, number):
    (base / str(number)).mkdir()
    (base / str(number) / "saved_model.pb").write_bytes(b"not a SavedModel")


def test_a_failed_version_is_retried_when_its_folder_changes_and_its_error_has_no_path(exports):
    store = ModelStore(lambda: find_models(exports), poll_seconds=60)
    with TestClient(create_app(store, server_settings())) as client:
        break_version(exports / "sentiment", 3)
        store.poll()
        status = client.get("/v1/models/sentiment").json()["model_version_status"]
        failed = next(entry for entry in status if entry["version"] == "3")
        message = failed["status"]["error_message"]
        assert failed["state"] == "END" and "saved_model.pb" in message and "/tmp" not in message, message
        shutil.rmtree(exports / "sentiment" / "3")
        add_version(exports / "sentiment", 3)
        store.poll()
        assert client.post("/v1/models/sentiment/versions/3:predict", json={"instances": ["good"]}).status_code == 200
        assert 3 not in store.models["sentiment"].failed


def settled_resident_bytes() -> int:
    """This process's resident memory (Linux), after a garbage collection and after glibc
    gives its free pages back to the system. Without `malloc_trim`, what the allocator keeps
    for reuse across its per-thread arenas swings by tens of MiB between identical cycles
    and says nothing about a leak."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_load_and_remove_50_times_frees_batchers_and_memory(exports):
    """Each cycle loads a new version, asks it once (which makes its batcher) and removes
    it. Every removed version's SavedModel is freed, and the process grows by less than
    50 MiB over the 50 cycles, after 3 to warm up."""
    store = ModelStore(lambda: find_models(exports), poll_seconds=3600)
    app = create_app(store, server_settings())
    removed = []
    with TestClient(app) as client:
        for cycle in range(53):
            if cycle == 3:
                before = settled_resident_bytes()
            number = 2 + cycle
            add_version(exports / "sentiment", number)
            store.poll()
            removed.append(weakref.ref(store.models["sentiment"].versions[number].saved_model))
            answer = client.post(f"/v1/models/sentiment/versions/{number}:predict", json={"instances": ["good"]})
            assert answer.status_code == 200
            shutil.rmtree(exports / "sentiment" / str(number))
            store.poll()
            app.state.sweep()
            assert list(app.state.batchers) == []
        grown = (settled_resident_bytes() - before) / 2**20
    kept = [number for number, model in enumerate(removed, start=2) if model() is not None]
    assert kept == [], f"removed versions still in memory: {kept}"
    assert grown < 50, f"grew {grown:.1f} MiB over 50 load/remove cycles"
