"""The served models: every version folder under a model's base folder, loaded with
`tf.saved_model.load`, polled for new versions and swapped in without a restart.

A version is an immutable `LoadedVersion`; a request takes one and finishes on it even
if a newer version replaces it meanwhile. A version that fails to load is logged and
remembered (it is retried only if its folder changes); the others keep serving.
"""

import dataclasses
import functools
import json
import logging
import re
import threading
from pathlib import Path

import tensorflow as tf

from common.errors import UserError

log = logging.getLogger("serving")
DESCRIPTION_FILE = "task.json"  # written next to saved_model.pb by common.export
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")  # keeps only the last part
LABELS_FILE = "labels.json"  # optional, in a model's base folder: {"stable": 3, "canary": 4}


class NotFound(LookupError):
    """An unknown model, version, label or signature (HTTP 404)."""


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """What a request needs to know about one signature."""

    function: object  # the concrete function
    inputs: dict  # name -> tf.TensorSpec
    outputs: dict  # name -> tf.TensorSpec
    padded_outputs: dict  # output name -> the output holding each row's length
    limits: dict = dataclasses.field(default_factory=dict)  # caps from task.json (common.limits)

    @functools.cached_property  # asked at every request; TensorFlow's shapes are slow
    def batchable(self) -> bool:
        """Requests can be merged when every input and output has a free leading (batch)
        axis and every other axis is fixed, or padded with a declared length."""
        tensors = {**self.inputs, **self.outputs}
        if not self.inputs or any(spec.shape.rank is None or spec.shape.rank == 0 for spec in tensors.values()):
            return False
        if any(spec.shape[0] is not None for spec in tensors.values()):
            return False
        fixed = all(None not in spec.shape[1:] for spec in self.inputs.values())
        outputs_fixed = all(
            None not in spec.shape[1:] or (name in self.padded_outputs and None not in spec.shape[2:])
            for name, spec in self.outputs.items()
        )
        return fixed and outputs_fixed


@dataclasses.dataclass(frozen=True)
class LoadedVersion:
    """One loaded version of a model."""

    model: str
    version: int
    path: Path
    signatures: dict  # name -> SignatureInfo
    description: dict  # the export's task.json ({} for exports made elsewhere)
    saved_model: object  # keeps the loaded object (and its variables) alive

    @property
    def task(self) -> str:
        return self.description.get("task", "")


def load_version(model: str, version: int, path: Path) -> LoadedVersion:
    """Load one SavedModel version folder and describe its signatures."""
    saved_model = tf.saved_model.load(str(path))
    description_path = path / DESCRIPTION_FILE
    description = json.loads(description_path.read_text(encoding="utf-8")) if description_path.exists() else {}
    described = description.get("signatures", {})
    signatures = {}
    for name, function in saved_model.signatures.items():
        inputs = dict(function.structured_input_signature[1])
        outputs = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in function.structured_outputs.items()}
        padded = described.get(name, {}).get("padded_outputs", {})
        signatures[name] = SignatureInfo(function, inputs, outputs, padded, described.get(name, {}).get("limits", {}))
    return LoadedVersion(model, version, path, signatures, description, saved_model)


def version_folders(base: Path) -> dict[int, Path]:
    """Numbered version folders holding a SavedModel (unfinished ones have none yet)."""
    if not base.is_dir():
        return {}
    return {
        int(folder.name): folder
        for folder in base.iterdir()
        if folder.name.isdigit() and (folder / "saved_model.pb").exists()
    }


class ServedModel:
    """One model name: its base folder, loaded versions, labels and failed versions."""

    def __init__(self, name: str, base: Path):
        self.name, self.base = name, Path(base)
        self.versions: dict[int, LoadedVersion] = {}
        self.failed: dict[int, str] = {}  # version -> error (not retried until the folder changes)
        self.failed_folders: dict[int, tuple] = {}  # version -> the fingerprint of the folder that failed
        self.labels: dict[str, int] = {}

    def poll(self) -> None:
        """Load versions that appeared, drop versions that disappeared, read labels."""
        found = version_folders(self.base)
        versions = {number: loaded for number, loaded in self.versions.items() if number in found}
        self.forget_changed_failures(found)
        for number, folder in sorted(found.items()):
            if number in versions or number in self.failed:
                continue
            try:
                versions[number] = load_version(self.name, number, folder)
                log.info("loaded %s version %d from %s", self.name, number, folder)
            except Exception as error:  # a broken export must never stop the others
                self.failed[number] = without_paths(error, folder)
                self.failed_folders[number] = fingerprint(folder)
                log.error("could not load %s version %d (%s); keeping the others", self.name, number, error)
        self.versions = versions  # one assignment: readers see the old or the new dict
        self.labels = read_labels(self.base)

    def forget_changed_failures(self, found: dict) -> None:
        """Failed versions whose folder is gone or changed are tried again."""
        for number in list(self.failed):
            if number not in found or fingerprint(found[number]) != self.failed_folders.get(number):
                del self.failed[number]
                self.failed_folders.pop(number, None)

    def get(self, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The requested version, the labelled one, or the newest."""
        versions = self.versions
        if label is not None:
            if label not in self.labels:
                raise NotFound(f"model {self.name!r} has no version labelled {label!r}")
            version = self.labels[label]
        if version is None:
            if not versions:
                raise NotFound(f"model {self.name!r} has no loaded version")
            return versions[max(versions)]
        if version not in versions:
            raise NotFound(f"model {self.name!r} has no loaded version {version}")
        return versions[version]


def fingerprint(folder: Path) -> tuple:
    """What changes when a version folder is replaced or rewritten: the folder's and its
    files' identities, sizes and modification times."""
    identities = []
    for entry in [folder, *sorted(folder.iterdir())]:
        stat = entry.stat()
        identities.append((entry.name, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(identities)


def without_paths(error: Exception, folder: Path) -> str:
    """An error's first line with the server's folders left out (answers never carry
    absolute paths): the version folder becomes its name."""
    first = str(error).splitlines()[0] if str(error) else ""
    first = first.replace(str(folder.resolve()), folder.name).replace(str(folder), folder.name)
    return f"{type(error).__name__}: {ABSOLUTE_PATH.sub(lambda path: path[1], first)}"


def read_labels(base: Path) -> dict[str, int]:
    """`labels.json` of a model's base folder, if any: {"label": version}."""
    path = base / LABELS_FILE
    if not path.exists():
        return {}
    try:
        return {str(label): int(version) for label, version in json.loads(path.read_text()).items()}
    except (ValueError, AttributeError) as error:
        log.error("ignoring %s: %s", path, error)
        return {}


class ModelStore:
    """Every served model, polled every `poll_seconds` in a background thread.

    `find` gives model name -> base folder; it is asked again at every poll, so a model
    exported while the server runs is served too.
    """

    def __init__(self, find, poll_seconds: float = 2.0):
        self.find = find
        self.models: dict[str, ServedModel] = {}
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = None

    def poll(self) -> None:
        for name, base in self.find().items():
            if name not in self.models:
                self.models = {**self.models, name: ServedModel(name, base)}
        for model in self.models.values():
            model.poll()

    def start(self) -> None:
        """Load what is there now, then keep polling until `stop`."""
        self.poll()
        self._thread = threading.Thread(target=self._poll_forever, name="model-poller", daemon=True)
        self._thread.start()

    def _poll_forever(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # never let the poller die
                log.exception("polling the model folders failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """A loaded version; an unknown model is `NotFound`. Names are looked up, never
        turned into paths."""
        if name not in self.models:
            raise NotFound(f"unknown model {name!r}; served: {', '.join(sorted(self.models)) or 'none'}")
        return self.models[name].get(version, label)


def find_models(exports_root: Path, extra: str = "") -> dict[str, Path]:
    """Model name -> base folder: every `exports/<name>/` plus `extra`, a comma-separated
    list of `path` or `name=path` (a base folder with numbered versions)."""
    bases = {}
    if exports_root.is_dir():
        bases = {folder.name: folder for folder in sorted(exports_root.iterdir()) if folder.is_dir()}
    for item in filter(None, (part.strip() for part in extra.split(","))):
        name, _, path = item.rpartition("=")
        path = Path(path)
        if not path.is_dir():
            raise UserError(f"MODELS: {path} is not a folder")
        if (path / "saved_model.pb").exists():
            raise UserError(
                f"MODELS: {path} is a SavedModel; give the folder above it, with numbered versions "
                f"(as `make export` writes: exports/<task>/<version>/)"
            )
        bases[name or path.name] = path
    return bases
