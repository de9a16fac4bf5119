"""Attention variants and decoding speed of the translation task, in one run.

    python -m bench.translation_attention [key=value ...]   (or: make bench-translation ARGS="epochs=4")

1. No attention vs additive vs multiplicative vs cross: each a full `make train TASK=translation`
   with the given options (same data, split, seed and budget); held-out corpus BLEU and
   chrF (sacrebleu) with greedy decoding and with beam search (the config's beam width),
   in one table. A finished run of the same options is reused, so an interrupted bench
   goes on where it stopped.
2. Decoding speed, with the last model trained: sentences per second of the in-graph
   batched beam search (`common.decoding`, batches of 64) against a Python loop that calls
   the same decoder step once per token per sentence (same beam width, same model, same
   sentences), and the ratio of the two.

The tables are printed and written to runs/translation/bench-<time>.md.
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

from common import reports, text, trainer
from common.compare import finished_run
from common.config import apply_overrides
from common.decoding import IMPOSSIBLE
from common.runs import write_report
from tasks.translation import metrics as translation_metrics
from tasks.translation.data import Assets, normalize, reattach_marks
from tasks.translation.serve import Translator
from tasks.translation.task import TASK

ATTENTIONS = ("none", "additive", "multiplicative", "cross")
SPEED_SENTENCES = 100


def measure(attention: str, overrides: list[str]):
    """One variant's config, run folder and metrics. A finished run of exactly this config
    in the runs folder is reused (the seeds bench's runs, or this bench's before it was
    stopped), so only the missing variants train."""
    config = apply_overrides(TASK.Config(), [*overrides, f"attention={attention}"])
    run_path = finished_run(TASK, config)
    if run_path is None:
        print(f"== attention={attention} {' '.join(overrides)}", file=sys.stderr, flush=True)
        run_path = trainer.train(TASK, config)
    else:
        print(f"== attention={attention}: reusing the finished run {run_path.name}", file=sys.stderr, flush=True)
    return config, run_path, dict(reports.read_json(run_path / "metrics.json"), run=run_path.name)


def quality_table(rows: dict, beam_width: int) -> str:
    header = ["attention", "greedy BLEU", "greedy chrF", f"beam {beam_width} BLEU", f"beam {beam_width} chrF"]
    header += ["epochs", "train s", "parameters", "run"]
    lines = []
    for attention, metrics in rows.items():
        values = [attention] + [f"{metrics[key]:.2f}" for key in ("greedy_bleu", "greedy_chrf", "bleu", "chrf")]
        values += [str(metrics["epochs"]), f"{metrics['training_seconds']:.0f}", f"{metrics['parameters']:,}"]
        lines.append(values + [metrics["run"]])
    return reports.markdown_table(header, lines)


class PythonLoopBeam:
    """Beam search one sentence at a time, one decoder call per token, bookkeeping in NumPy:
    the same step function, scoring and length penalty as `common.decoding.beam_search`."""

    def __init__(self, translator: Translator, beam_width: int):
        self.translator, self.beam_width = translator, beam_width
        network = translator.network
        self.encode = tf.function(lambda texts: self._encode(texts))
        self.step = tf.function(network.step)

    def _encode(self, texts):
        source_ids = tf.cast(self.translator.source_encoder(normalize(texts)), tf.int32)
        network = self.translator.network
        return source_ids, network.initial_state(network.encode(source_ids))

    def translate(self, sentence: str, max_length: int) -> list[int]:
        width, alpha = self.beam_width, self.translator.config.length_penalty
        _, state = self.encode(tf.constant([sentence]))
        state = tf.nest.map_structure(lambda tensor: tf.repeat(tensor, width, axis=0), state)
        tokens = np.full(width, text.START_ID, np.int32)
        log_probs = np.where(np.arange(width) == 0, 0.0, IMPOSSIBLE)
        lengths, finished, history = np.zeros(width, int), np.zeros(width, bool), [[] for _ in range(width)]
        for _ in range(max_length):
            if finished.all():
                break
            logits, new_state = self.step(tf.constant(tokens), state)
            step_log_probs = tf.nn.log_softmax(logits).numpy()
            candidates = np.where(finished[:, None], IMPOSSIBLE, log_probs[:, None] + step_log_probs).ravel()
            best = np.argsort(-candidates, kind="stable")[:width]
            live = np.cumsum(~finished) - (~finished)  # the j-th live slot takes the j-th best
            picked = best[live]
            parents = np.where(finished, np.arange(width), picked // step_log_probs.shape[1])
            chosen = np.where(finished, text.END_ID, picked % step_log_probs.shape[1])
            log_probs = np.where(finished, log_probs, candidates[picked])
            lengths = np.where(finished, lengths, lengths[parents] + 1)
            history = [
                history[parent] + ([] if done else [int(token)])
                for parent, token, done in zip(parents, chosen, finished)
            ]
            finished = finished | (chosen == text.END_ID)
            state = tf.nest.map_structure(lambda tensor, rows=parents: tf.gather(tensor, rows), new_state)
            tokens = chosen.astype(np.int32)
        best = int(np.argmax(log_probs / ((5.0 + lengths) / 6.0) ** alpha))
        return [token for token in history[best] if token != text.END_ID]


def decoding_speed(config, run_path, sentences: list[str]) -> str:
    """In-graph batched beam search vs the Python loop, same model and sentences."""
    assets = Assets(**reports.read_json(run_path / "assets.json"))
    translator = Translator(keras.models.load_model(run_path / "model.keras"), config, assets)
    translation_metrics.translate_all(translator, sentences[:8], config.beam_width)  # trace once
    started = time.perf_counter()
    in_graph = translation_metrics.translate_all(translator, sentences, config.beam_width)
    graph_rate = len(sentences) / (time.perf_counter() - started)
    loop = PythonLoopBeam(translator, config.beam_width)
    loop.translate(sentences[0], 5)  # trace once
    limit = int(np.ceil(config.max_output_ratio * max(len(s.split()) for s in sentences))) + 5
    started = time.perf_counter()
    looped = [loop.translate(sentence, limit) for sentence in sentences]
    loop_rate = len(sentences) / (time.perf_counter() - started)
    decoded = [translator.target_decoder(tf.constant([ids or [0]])).numpy()[0].decode() for ids in looped]
    decoded = [text_value.decode() for text_value in reattach_marks(tf.constant(decoded)).numpy()]
    agree = np.mean([a == b for a, b in zip(in_graph, decoded)])
    header = "| decoder | sentences/s | ratio |\n|---|---|---|\n"
    ratio = graph_rate / loop_rate
    rows = f"| in-graph batched beam {config.beam_width} (batches of 64) | {graph_rate:.1f} | {ratio:.1f}x |\n"
    rows += f"| Python loop, one step call per token per sentence | {loop_rate:.1f} | 1.0x |\n"
    return header + rows + f"\nsame output on {agree:.0%} of the {len(sentences)} sentences ({run_path.name})"


def main(arguments: list[str]) -> None:
    overrides = ["verbose=2", *arguments]
    rows, config, run_path = {}, None, None
    for attention in ATTENTIONS:
        config, run_path, rows[attention] = measure(attention, overrides)
    quality = quality_table(rows, config.beam_width)
    data = TASK.load_data(config)
    speed = decoding_speed(config, run_path, data.pairs["test"][0][:SPEED_SENTENCES])
    report = f"options: {' '.join(overrides)}\n\n{quality}\n\n{speed}"
    print(f"\n{report}")
    print(f"\nwritten to {write_report(TASK.name, 'bench', report)}")


if __name__ == "__main__":
    main(sys.argv[1:])
