"""The translation default over seeds: 5 training seeds x 2 data splits, one table.

    python -m bench.translation_seeds [key=value ...]   (or: make bench-translation-seeds)

Each cell is `make train TASK=translation ARGS="seed=S split_seed=D"` (the training seed
draws initialisation, dropout and batch order; the split seed draws which books are held
out). The cell with S = D is the default command itself. A cell already trained (same
config, in the same runs folder) is reused and an interrupted one resumes, so the ten
trainings (about 35 minutes each on two idle CPU cores) can be spread over several
sittings. `train=0` trains nothing and reports the cells finished so far.

Options: `seeds=42,43,44,45,46`, `split_seeds=42,43`, `train=1`; anything else is a
training option applied to every cell (`attention=none`, say, for the no-attention
baseline over the same seeds). The table (per run, then mean ± std over runs, per split
and overall, and the issue's bars) is printed and written to
runs/translation/seeds-<time>.md. With options, it also pairs each run's validation BLEU
with the default's finished run on the same cell, the score options are chosen on.
"""

import json
import sys
from pathlib import Path

from bench.arguments import whole_numbers
from common import reports, trainer
from common.compare import finished_run
from common.config import apply_overrides, load_config
from common.errors import UserError
from common.files import write_text_atomically
from common.runs import write_report
from tasks.translation.data import Assets
from tasks.translation.metrics import LOCKED_SHARE, validation_scores
from tasks.translation.serve import Translator
from tasks.translation.task import TASK

SEEDS = (42, 43, 44, 45, 46)
SPLIT_SEEDS = (42, 43)
# What the default must reach on every run and on the mean (held-out books, beam search).
LEAST_BLEU, LEAST_MEAN_BLEU, MOST_STD_BLEU = 12.0, 15.0, 2.0


def parse_arguments(arguments: list[str]) -> tuple[tuple[int, ...], tuple[int, ...], bool, list[str]]:
    """Seeds, split seeds, whether to train, and the remaining training options."""
    seeds, split_seeds, train, overrides = SEEDS, SPLIT_SEEDS, True, []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "seeds":
            seeds = whole_numbers(key, value)
        elif key == "split_seeds":
            split_seeds = whole_numbers(key, value)
        elif key == "train":
            train = value not in ("0", "no", "false")
        else:
            overrides.append(argument)
    return seeds, split_seeds, train, overrides


def cell_config(seed: int, split_seed: int, overrides: list[str]):
    """The config of one cell; split_seed=0 when it equals the seed, so the S = D cell is
    exactly the default command (and finds its run)."""
    split_option = 0 if split_seed == seed else split_seed
    return apply_overrides(TASK.Config(), ["verbose=2", *overrides, f"seed={seed}", f"split_seed={split_option}"])


def run_cell(seed: int, split_seed: int, overrides: list[str], train: bool) -> dict | None:
    """The cell's metrics (training it first if asked and needed), or None."""
    config = cell_config(seed, split_seed, overrides)
    run_path = finished_run(TASK, config)
    if run_path is None and train:
        print(f"== seed {seed}, split seed {split_seed} {' '.join(overrides)}", file=sys.stderr, flush=True)
        run_path = trainer.train(TASK, config)
    if run_path is None:
        return None
    metrics = reports.read_json(run_path / "metrics.json")
    if "validation_bleu" not in metrics:
        metrics = score_validation_later(run_path, metrics)
    return dict(metrics, seed=seed, split_seed=split_seed, run=run_path.name)


def score_validation_later(run_path: Path, metrics: dict) -> dict:
    """Runs made before training scored the validation verses: score them now with the
    run's own kept model, and record that in its metrics.json (marked as scored later)."""
    print(f"scoring the validation verses of {run_path.name}", file=sys.stderr, flush=True)
    config = load_config(TASK.Config, run_path / "config.json")
    model = TASK.load_model(run_path / "model.keras")
    assets = Assets(**reports.read_json(run_path / "assets.json"))
    scores = validation_scores(Translator(model, config, assets), config, TASK.load_data(config))
    metrics = {**metrics, **scores, "validation_scored_later": True}
    write_text_atomically(run_path / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def per_run_table(rows: list[dict], beam_width: int) -> str:
    header = ["split seed", "seed", f"BLEU (beam {beam_width})", "chrF", "greedy BLEU", "validation BLEU"]
    header += ["epochs", "train min"]
    header += ["s/epoch", "attention first / last", "entropy", "run"]
    lines = []
    for row in rows:
        cells = [str(row["split_seed"]), str(row["seed"])]
        cells += [f"{row[key]:.2f}" for key in ("bleu", "chrf", "greedy_bleu", "validation_bleu")]
        cells += [str(row["epochs"]), f"{row['training_seconds'] / 60:.1f}"]
        cells.append(f"{row['training_seconds'] / row['epochs']:.0f}")
        if "attention_first" in row:
            cells += [f"{row['attention_first']:.3f} / {row['attention_last']:.3f}", f"{row['attention_entropy']:.2f}"]
        else:
            cells += ["no attention", "-"]
        lines.append(cells + [row["run"]])
    return reports.markdown_table(header, lines)


def spread(values: list[float]) -> str:
    """Mean ± std and the count; one value has no spread, so it is shown alone."""
    summary = reports.mean_and_spread(values)
    if len(values) < 2:
        return f"{summary['mean']:.2f} (n={len(values)}, no spread)"
    return f"{summary['mean']:.2f} ± {summary['std']:.2f} (n={len(values)})"


def std_verdict(values: list[float], std: float) -> str:
    """Whether the spread bar is met; one run has no spread to judge."""
    if len(values) < 2:
        return "not judged (one run)"
    return "yes" if std <= MOST_STD_BLEU else "no"


def summary_lines(rows: list[dict], split_seeds: tuple[int, ...], cells: int) -> list[str]:
    """Mean ± std of BLEU per split and overall; each bar met or not, once all `cells`
    runs are finished (a mean over some of them is no verdict)."""
    lines = []
    for split_seed in split_seeds:
        values = [row["bleu"] for row in rows if row["split_seed"] == split_seed]
        if values:
            lines.append(f"- split seed {split_seed}: BLEU {spread(values)}")
    bleu = [row["bleu"] for row in rows]
    overall = reports.mean_and_spread(bleu)
    lines += [
        f"- all runs: BLEU {spread(bleu)}; chrF {spread([row['chrf'] for row in rows])}; "
        f"greedy BLEU {spread([row['greedy_bleu'] for row in rows])}; "
        f"validation BLEU {spread([row['validation_bleu'] for row in rows])}",
        f"- training minutes {spread([row['training_seconds'] / 60 for row in rows])}",
    ]
    if len(rows) < cells:
        return lines + [f"- the bars are judged when all {cells} runs are finished ({len(rows)} so far)"]
    verdicts = [
        f"- every run BLEU ≥ {LEAST_BLEU:g}: {'yes' if min(bleu) >= LEAST_BLEU else 'no'} (lowest {min(bleu):.2f})",
        f"- mean BLEU ≥ {LEAST_MEAN_BLEU:g}: {'yes' if overall['mean'] >= LEAST_MEAN_BLEU else 'no'}; "
        f"std ≤ {MOST_STD_BLEU:g}: {std_verdict(bleu, overall['std'])}",
    ]
    return lines + verdicts + lock_verdict(rows)


def lock_verdict(rows: list[dict]) -> list[str]:
    """Whether any run's first or last source word holds too much of the attention
    (runs with attention=none record no weights and are left out)."""
    rows = [row for row in rows if "attention_first" in row]
    if not rows:
        return ["- attention not judged (no attention)"]
    largest_share = max(max(row["attention_first"], row["attention_last"]) for row in rows)
    return [
        f"- no run's first or last source word holds more than {LOCKED_SHARE:g} of the attention: "
        f"{'yes' if largest_share <= LOCKED_SHARE else 'no'} (largest {largest_share:.3f})"
    ]


def against_the_default(rows: list[dict], defaults: list[dict]) -> list[str]:
    """A variant paired with the default on the same cells (same seed, same split):
    validation BLEU, on which options are chosen, then test BLEU, which only reports how
    far apart they land (`attention=none` against attention, say). Pairing takes out what
    the seed and the held-out books move."""
    by_cell = {(row["seed"], row["split_seed"]): row for row in defaults}
    pairs = [(row, by_cell[key]) for row in rows if (key := (row["seed"], row["split_seed"])) in by_cell]
    if not pairs:
        return ["- against the default: no cell has a finished default run yet (run the bench without options)"]
    lines = []
    scores = (("validation_bleu", "validation BLEU", "choose on this"), ("bleu", "test BLEU", "report only"))
    for key, name, use in scores:
        variant = [row[key] for row, _ in pairs]
        default = [paired[key] for _, paired in pairs]
        differences = [mine - theirs for mine, theirs in zip(variant, default, strict=True)]
        lines.append(
            f"- against the default on the same {len(pairs)} cell(s), {name} ({use}): {spread(variant)} "
            f"against {spread(default)}; difference (these options minus the default) {spread(differences)}"
        )
    return lines


def main(arguments: list[str]) -> None:
    seeds, split_seeds, train, overrides = parse_arguments(arguments)
    cells = [(seed, split_seed) for split_seed in split_seeds for seed in seeds]
    rows = [row for seed, split_seed in cells if (row := run_cell(seed, split_seed, overrides, train))]
    if not rows:
        raise UserError("no cell is trained yet: run without train=0")
    beam_width = cell_config(seeds[0], split_seeds[0], overrides).beam_width
    title = f"options: {' '.join(overrides) or '(the defaults)'}; {len(rows)} of {len(cells)} runs finished"
    summary = summary_lines(rows, split_seeds, len(cells))
    if overrides:
        defaults = [row for seed, split_seed in cells if (row := run_cell(seed, split_seed, [], train=False))]
        summary += against_the_default(rows, defaults)
    summary = "\n".join(summary)
    report = "\n\n".join([title, per_run_table(rows, beam_width), summary])
    print(f"\n{report}")
    print(f"\nwritten to {write_report(TASK.name, 'seeds', report)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UserError as error:
        sys.exit(f"error: {error}")
