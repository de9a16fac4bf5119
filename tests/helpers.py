"""Helpers shared by the tests: the command line in-process, finished runs, and calling
an export in a fresh Python that imports only TensorFlow (no project code)."""

import json
import subprocess
import sys
from pathlib import Path

import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*arguments) -> int:
    """`python main.py ...` in this process; returns the exit code."""
    return main.main([str(argument) for argument in arguments])


def finished_runs(runs_root: Path, task: str) -> list[Path]:
    """Finished run folders of `task` (not the unfinished ones under .incomplete)."""
    folder = runs_root / task
    return [path for path in folder.iterdir() if not path.name.startswith(".")] if folder.exists() else []


def call_in_fresh_process(export_path, inputs: dict, signature: str = "serving_default") -> dict:
    """Outputs of one signature of an export, loaded in a Python that imports only
    tensorflow: {input name: JSON list} in, {output name: nested lists} out (bytes decoded)."""
    code = (
        "import json, sys, tensorflow as tf\n"
        "export = tf.saved_model.load(sys.argv[1])\n"
        "request = json.loads(sys.stdin.read())\n"
        "function = export.signatures[sys.argv[2]]\n"
        "specs = function.structured_input_signature[1]\n"
        "out = function(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in request.items()})\n"
        "print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}, default=lambda b: b.decode()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(export_path), signature],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
