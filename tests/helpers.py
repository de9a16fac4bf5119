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


# Loads the export once and answers each request of a JSON list [[signature, inputs], ...];
# a request that raises answers {"error": "<type>: <message>"} and the rest go on.
_ANSWER_REQUESTS = """
import json, sys, tensorflow as tf
export = tf.saved_model.load(sys.argv[1])
answers = []
for signature, request in json.loads(sys.stdin.read()):
    function = export.signatures[signature]
    specs = function.structured_input_signature[1]
    try:
        out = function(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in request.items()})
        answers.append({k: v.numpy().tolist() for k, v in out.items()})
    except Exception as error:
        answers.append({"error": f"{type(error).__name__}: {error}"})
print(json.dumps(answers, default=lambda b: b.decode()))
"""


def answers_in_fresh_process(export_path, requests: list[tuple[str, dict]]) -> list[dict]:
    """Outputs of several (signature, {input name: JSON list}) requests to an export, loaded
    once in a Python that imports only tensorflow: one dict per request, {output name:
    nested lists} (bytes decoded), or {"error": "<type>: <message>"} where it raised."""
    result = subprocess.run(
        [sys.executable, "-c", _ANSWER_REQUESTS, str(export_path)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def call_in_fresh_process(export_path, inputs: dict, signature: str = "serving_default") -> dict:
    """Outputs of one signature of an export, loaded in a Python that imports only
    tensorflow: {input name: JSON list} in, {output name: nested lists} out (bytes decoded)."""
    (answer,) = answers_in_fresh_process(export_path, [(signature, inputs)])
    assert "error" not in answer, answer["error"]
    return answer
