"""The one command-line entry of the RNN task suite; every make target calls it.

python main.py train sentiment units=128 epochs=5
python main.py predict sentiment --text "a gripping, funny film"
python main.py gradients sentiment cells=simple_rnn,lstm steps=100
python main.py --help
"""

import argparse
import errno
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out

from common.config import apply_overrides, field_help  # noqa: E402
from common.errors import UserError, WorkerLost  # noqa: E402
from common.files import file_named_in, is_disk_full  # noqa: E402
from tasks import TASKS, get_task  # noqa: E402


def describe_tasks() -> str:
    """Tasks, their datasets and every option with its default, for --help."""
    lines = ["tasks, datasets and options (set options as key=value):"]
    for name in TASKS:
        task = get_task(name)
        lines.append(f"\n  {name}: {task.summary}")
        lines.append(f"    datasets: {', '.join(task.datasets)}, or your own file")
        for option, type_name, default, help_text in field_help(task.Config):
            lines.append(f"    {option:<18} {type_name:<5} {default!s:<9} {help_text}")
    return "\n".join(lines)


def command_train(arguments):
    from common import trainer

    task = get_task(arguments.task)
    trainer.train(task, apply_overrides(task.Config(), arguments.options))


def command_compare(arguments):
    from common.compare import SEEDS, compare, write_index

    options, chosen = split_compare_options(arguments.options)
    seeds = int(chosen.get("seeds", arguments.seeds or SEEDS))
    requested = chosen.get("variants", arguments.variants)
    names = TASKS if arguments.task == "all" else (arguments.task,)
    configs = {name: apply_overrides(get_task(name).Config(), options) for name in names}  # check all first
    folders = {}
    for name in names:
        task = get_task(name)
        known = task.variants()
        variants = requested.split(",") if requested else list(known)
        unknown = [variant for variant in variants if variant not in known]
        if unknown:
            raise UserError(f"unknown variant(s) {', '.join(unknown)} for {name}; choose from {', '.join(known)}")
        folders[name] = compare(task, configs[name], variants, seeds)
    if arguments.task == "all":
        write_index(folders)


def split_compare_options(options: list[str]) -> tuple[list[str], dict]:
    """The config overrides, and `seeds=`/`variants=` (options of the comparison itself)."""
    own = ("seeds", "variants")
    chosen = dict(option.split("=", 1) for option in options if option.split("=", 1)[0] in own)
    if "seeds" in chosen and not chosen["seeds"].isdigit():
        raise UserError(f"seeds={chosen['seeds']!r}: expected a whole number of seeds")
    return [option for option in options if option.split("=", 1)[0] not in own], chosen


def command_gradients(arguments):
    from tasks.sentiment.gradients import gradient_flow

    gradient_flow(get_task(arguments.task), arguments.options)


def command_export(arguments):
    from common import export
    from common.runs import find_run
    from common.sources import PROJECT_ROOT

    task = get_task(arguments.task)
    run_path = find_run(task.name, arguments.run)
    if arguments.to:
        destination = export.export_run(task, run_path, arguments.to)
    else:
        destination = export.export_next_version(task, run_path, PROJECT_ROOT / "exports" / task.name)
    print(f"exported {run_path.name} to {destination}")


def command_predict(arguments):
    from common import export
    from common.runs import find_run

    task = get_task(arguments.task)
    export_path = arguments.export or find_run(task.name, arguments.run) / "export"
    inputs = arguments.text or ([] if sys.stdin.isatty() else [line.rstrip("\n") for line in sys.stdin])
    for answer in export.predict(task, export_path, inputs):
        print(json.dumps(answer, ensure_ascii=False))


def command_data(arguments):
    from common import embedding

    for name in [arguments.task] if arguments.task else TASKS:
        task = get_task(name)
        for source, fetch in task.builtin_sources().items():
            print(f"{name}: {source} ready, {fetch()}")
    for name in embedding.BUILTIN:
        print(f"embeddings: {name} ready, {embedding.fetch_builtin(name)}")


def command_serve(arguments):
    import logging

    import uvicorn

    from common.sources import PROJECT_ROOT
    from serving.app import ServerSettings, create_app
    from serving.edge import uvicorn_config
    from serving.models import ModelStore, find_models

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def find():
        return find_models(PROJECT_ROOT / "exports", arguments.models)

    bases = find()  # checks MODELS= once, before the server starts
    if not bases:
        print("nothing exported yet: the page shows how; new exports are picked up while serving")
    settings = ServerSettings(
        batching=not arguments.no_batching,
        max_batch_size=arguments.max_batch_size,
        batch_wait_ms=arguments.batch_wait_ms,
        batch_threads=arguments.batch_threads,
        deadline_seconds=arguments.deadline_seconds,
        max_waiting=arguments.max_waiting,
        heavy_niceness=arguments.heavy_niceness,
    )
    store = ModelStore(find, poll_seconds=arguments.poll_seconds)
    names = ", ".join(sorted(bases)) or "nothing yet"
    print(f"serving {names} on http://{arguments.host}:{arguments.port}/ (Ctrl-C stops)")
    config = uvicorn_config(create_app(store, settings), arguments.host, arguments.port, settings, log_level="info")
    uvicorn.Server(config).run()


def parser(with_task_help: bool = False) -> argparse.ArgumentParser:
    """The command line; `with_task_help` lists every task's options after --help."""
    main = argparse.ArgumentParser(
        prog="main.py",
        description="RNN task suite: train, export and serve recurrent models on real data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=describe_tasks() if with_task_help else "",
    )
    commands = main.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model; writes runs/<task>/<run-id>/")
    train.add_argument("task", help=", ".join(TASKS))
    train.add_argument("options", nargs="*", help="key=value overrides, e.g. units=128 cell=gru")
    train.set_defaults(handler=command_train)
    compare = commands.add_parser(
        "compare", help="train SimpleRNN, GRU, LSTM, BiLSTM, stacked and no-RNN side by side, several seeds each"
    )
    compare.add_argument("task", help="a task, or all")
    compare.add_argument(
        "options", nargs="*", help="key=value overrides shared by every variant; seeds=N, variants=a,b"
    )
    compare.add_argument("--variants", default="", help="comma-separated subset of the variants")
    compare.add_argument("--seeds", type=int, default=0, help="seeds per variant (default 3)")
    compare.set_defaults(handler=command_compare)
    gradients = commands.add_parser(
        "gradients", help="||dL/dh_t|| by time step for SimpleRNN, GRU, LSTM; writes runs/<task>/gradients-<time>/"
    )
    gradients.add_argument("task", help="sentiment")
    gradients.add_argument(
        "options", nargs="*", help="cells=simple_rnn,gru,lstm length=120 steps=150 batches=8, and task options"
    )
    gradients.set_defaults(handler=command_gradients)
    export = commands.add_parser("export", help="write a run's SavedModel to exports/<task>/<version>/")
    export.add_argument("task")
    export.add_argument("--run", default="", help="run id or folder (default: the latest)")
    export.add_argument("--to", default="", help="destination folder")
    export.set_defaults(handler=command_export)
    predict = commands.add_parser("predict", help="answer from an export (default: the latest run's)")
    predict.add_argument("task")
    predict.add_argument("--text", action="append", help="input (repeatable; default: lines on stdin)")
    predict.add_argument("--run", default="")
    predict.add_argument("--export", default="", help="SavedModel folder")
    predict.set_defaults(handler=command_predict)
    serve = commands.add_parser("serve", help="serve every export with TensorFlow Serving's REST API, and a page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--models", default="", help="more model folders: path or name=path, comma-separated")
    serve.add_argument("--poll-seconds", type=float, default=2.0, help="how often new versions are looked for")
    serve.add_argument("--max-batch-size", type=int, default=32, help="rows merged into one model call")
    serve.add_argument("--batch-wait-ms", type=float, default=0.0, help="extra wait for more requests per batch")
    serve.add_argument(
        "--batch-threads",
        type=int,
        default=2,
        help="batches of one model computed at once (TF Serving's num_batch_threads)",
    )
    serve.add_argument("--no-batching", action="store_true", help="one model call per request")
    serve.add_argument("--deadline-seconds", type=float, default=30.0, help="a request unanswered by then gets 504")
    serve.add_argument("--max-waiting", type=int, default=64, help="requests per model at once; more get 429")
    serve.add_argument(
        "--heavy-niceness",
        type=int,
        default=19,
        choices=range(20),
        metavar="0..19",
        help="CPU priority of beam-search workers below the server's (19: the lowest, SCHED_IDLE; "
        "0: the server's own, for a machine shared with other busy jobs)",
    )
    serve.set_defaults(handler=command_serve)
    data = commands.add_parser("data", help="fetch the built-in datasets into the cache")
    data.add_argument("task", nargs="?", default="")
    data.set_defaults(handler=command_data)
    return main


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    arguments = parser(with_task_help=argv[:1] in (["-h"], ["--help"])).parse_args(argv)
    try:
        arguments.handler(arguments)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WorkerLost as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as error:
        line = storage_error_line(error)
        if line is None:
            raise
        print(line, file=sys.stderr)
        global EXIT_AT_ONCE
        EXIT_AT_ONCE = is_disk_full(error)  # see below
        return 2
    return 0


NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
# After a full disk, HDF5 may still hold handles to a half-written file; freeing them as
# the interpreter shuts down can crash it (a segfault), so the process exits at once.
EXIT_AT_ONCE = False


def storage_error_line(error: Exception) -> str | None:
    """The one line for a full disk (met anywhere: Python, HDF5, TensorFlow) or a folder
    that cannot be written, naming the file; None for any other error."""
    named = file_named_in(error)
    where = f" {named}" if named else ""
    if is_disk_full(error):
        return f"error: the disk is full while writing{where}; free some space and run the same command again"
    if isinstance(error, OSError) and error.errno in NOT_WRITABLE:
        return f"error: cannot write{where} ({error.strerror}); make the runs folder writable or set RNN_SUITE_RUNS"
    return None


def quiet_about_full_disks() -> None:
    """Drop HDF5's reports of a full disk from objects freed after the error (h5py prints
    a traceback for each through sys.excepthook, then sys.unraisablehook: dozens of
    lines); the command prints its own one line. Any other report is printed as before."""
    default_excepthook, default_unraisablehook = sys.excepthook, sys.unraisablehook

    def excepthook(kind, value, traceback):
        if "errno = 28" not in str(value):
            default_excepthook(kind, value, traceback)

    def unraisablehook(unraisable):
        if "errno = 28" not in str(unraisable.exc_value):
            default_unraisablehook(unraisable)

    sys.excepthook, sys.unraisablehook = excepthook, unraisablehook


if __name__ == "__main__":
    quiet_about_full_disks()
    code = main()
    if EXIT_AT_ONCE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
