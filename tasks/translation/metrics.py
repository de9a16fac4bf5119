"""Held-out translation scores: sacrebleu corpus BLEU and chrF (detokenized output against
the raw references; the metric signatures are saved), greedy and beam search, BLEU by source
length, the copy-the-source baseline, 10 example translations and attention heat maps; and
the attention's health after every epoch."""

import time

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from tasks.translation import plots
from tasks.translation.config import Config
from tasks.translation.data import Data, encode_pairs
from tasks.translation.model import Seq2Seq
from tasks.translation.serve import Translator

LENGTH_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, None))  # source words
EXAMPLES = 10
HEATMAPS = 3
HEALTH_SAMPLE = 300  # validation pairs whose attention is summarised after every epoch
LOCKED_SHARE = 0.5  # a warning when the first or last source word holds more than this...
LOCKED_AFTER_EPOCH = 2  # ...after this many epochs


def attention_health(weights, source_lengths, target_lengths) -> dict:
    """Where attention looks, over every written word of every pair with 2+ source words:
    the mean weight on the first and on the last source word, and the mean entropy over
    the source words divided by its maximum, ln(source length) (0: all weight on one word;
    1: spread evenly). weights [pairs, target words, source words], padding after lengths."""
    weights = np.asarray(weights, np.float64)
    rows, columns = np.asarray(source_lengths), np.asarray(target_lengths)
    first, last, entropy = [], [], []
    for pair, (source_length, target_length) in enumerate(zip(rows, columns)):
        if source_length < 2 or target_length < 1:
            continue
        block = weights[pair, :target_length, :source_length]
        first.append(block[:, 0])
        last.append(block[:, source_length - 1])
        spread = -(block * np.log(np.clip(block, 1e-12, None))).sum(axis=1) / np.log(source_length)
        entropy.append(spread)
    if not first:
        return {}
    return {
        "attention_first": float(np.concatenate(first).mean()),
        "attention_last": float(np.concatenate(last).mean()),
        "attention_entropy": float(np.concatenate(entropy).mean()),
    }


class HealthSample:
    """A fixed sample of validation pairs on which `attention_health` is measured,
    teacher-forced (the reference words as the decoder's inputs)."""

    def __init__(self, config: Config, data: Data):
        self.config = config
        sources, targets = (part[:HEALTH_SAMPLE] for part in data.pairs["validation"])
        source_ids, target_ids = encode_pairs(config, data.assets, sources, targets)
        self.source_ids = source_ids.to_tensor()
        self.target_in = target_ids[:, :-1].to_tensor()
        self.source_lengths = source_ids.row_lengths().numpy()
        self.target_lengths = target_ids.row_lengths().numpy() - 1  # w1 .. wn END, each read after its input

    def health(self, model) -> dict:
        """`attention_health` of `model` on the sample (empty without attention)."""
        if self.config.attention == "none":
            return {}
        network = Seq2Seq.of(model, self.config)
        _, weights = network.decode_sequence(self.target_in, network.encode(self.source_ids))
        return attention_health(weights.numpy(), self.source_lengths, self.target_lengths)


class AttentionHealth(keras.callbacks.Callback):
    """Adds `attention_first`, `attention_last` and `attention_entropy` (see
    `attention_health`) to each epoch's logs, and warns in one line when attention has
    locked onto one end of the source: a saturated softmax passes almost no gradient, so
    such a run trains as if it had no attention and may never leave."""

    def __init__(self, config: Config, data: Data):
        super().__init__()
        self.sample = HealthSample(config, data)

    def on_epoch_end(self, epoch, logs=None):
        health = self.sample.health(self.model)
        if logs is not None:
            logs.update(health)
        warning = locked_warning(health, epoch + 1)
        if warning:
            print(warning)


def locked_warning(health: dict, epochs: int) -> str:
    """One line when, after `LOCKED_AFTER_EPOCH` epochs, the first or the last source word
    holds more than `LOCKED_SHARE` of the attention weight; else ""."""
    if not health or epochs < LOCKED_AFTER_EPOCH:
        return ""
    end = "first" if health["attention_first"] >= health["attention_last"] else "last"
    share = health[f"attention_{end}"]
    if share <= LOCKED_SHARE:
        return ""
    return (
        f"warning: after epoch {epochs} attention puts {share:.2f} of its weight on the {end} source word "
        f"(normalised entropy {health['attention_entropy']:.2f}): locked on one position, the run may stall"
    )


def translate_all(translator: Translator, texts: list[str], beam_width: int, greedy=False, batch_size=64):
    """Translations of `texts`, in order, decoded in batches of similar length (one batch
    decodes until its longest output ends)."""
    function = translator.compiled(beam_width, greedy)
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    translated = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for index, output in zip(chunk, function(tf.constant([texts[i] for i in chunk])).numpy()):
            translated[index] = output.decode("utf-8")
    return translated


def validation_scores(translator: Translator, config: Config, data: Data) -> dict:
    """BLEU and chrF of beam search on the validation pairs (the first `evaluate_limit`)."""
    sources, references = data.pairs["validation"]
    if config.evaluate_limit:
        sources, references = sources[: config.evaluate_limit], references[: config.evaluate_limit]
    scores = corpus_scores(translate_all(translator, sources, config.beam_width), references, config.lowercase)
    return {"validation_bleu": scores["bleu"], "validation_chrf": scores["chrf"]}


def corpus_scores(hypotheses, references, lowercase: bool) -> dict:
    """sacrebleu corpus BLEU and chrF (case-insensitive when the model lower-cases)."""
    bleu = sacrebleu.metrics.BLEU(lowercase=lowercase)
    chrf = sacrebleu.metrics.CHRF(lowercase=lowercase)
    return {
        "bleu": round(bleu.corpus_score(hypotheses, [references]).score, 2),
        "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def bleu_by_length(sources, hypotheses, references, lowercase: bool) -> dict:
    """Corpus BLEU of each bucket of source length (words), with its sentence count."""
    lengths = np.array([len(source.split()) for source in sources])
    buckets = {}
    for low, high in LENGTH_BUCKETS:
        chosen = np.flatnonzero((lengths >= low) & (lengths <= (high or lengths.max(initial=low))))
        if len(chosen):
            score = sacrebleu.metrics.BLEU(lowercase=lowercase).corpus_score(
                [hypotheses[i] for i in chosen], [[references[i] for i in chosen]]
            )
            buckets[f"{low}-{high or ''}"] = {"sentences": int(len(chosen)), "bleu": round(score.score, 2)}
    return buckets


def write_report(path, scores: dict, examples: list[dict]) -> None:
    """translations.md: the scores, BLEU by length and the example translations."""
    lines = ["# Held-out translations", "", f"BLEU {scores['bleu']} ({scores['bleu_signature']})  "]
    lines += [f"chrF {scores['chrf']} ({scores['chrf_signature']})", "", "| source words | sentences | BLEU |"]
    buckets = scores["bleu_by_length"].items()
    lines += ["|---|---|---|"] + [f"| {name} | {v['sentences']} | {v['bleu']} |" for name, v in buckets]
    lines += ["", "## Examples", ""]
    for example in examples:
        lines += [f"- source: {example['source']}", f"  - reference: {example['reference']}"]
        lines += [f"  - output: {example['output']}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def draw_heatmaps(translator: Translator, texts: list[str], run_path) -> list[str]:
    """Attention heat maps of the first test sentences (none without attention)."""
    if translator.config.attention == "none" or not texts:
        return []
    outputs = translator.with_attention(tf.constant(texts))
    names = []
    for index in range(len(texts)):
        name = f"attention_{index + 1}.png"
        drawn = plots.attention_heatmap(
            plots.decode_words(outputs["source_tokens"][index].numpy()),
            plots.decode_words(outputs["target_tokens"][index].numpy()),
            outputs["weights"][index].numpy(),
            run_path / name,
            title=outputs["translation"][index].numpy().decode("utf-8"),
        )
        if drawn:
            names.append(name)
    return names


def evaluate(model, config: Config, data: Data, run_path) -> dict:
    """Scores on the test pairs (the first `evaluate_limit` when set): beam search with the
    run's width, greedy decoding, and copying the source as a baseline; and beam search's
    on the validation pairs, the score to choose options by (never the test's)."""
    sources, references = data.pairs["test"]
    if config.evaluate_limit:
        sources, references = sources[: config.evaluate_limit], references[: config.evaluate_limit]
    translator = Translator(model, config, data.assets)
    validation = validation_scores(translator, config, data)
    started = time.perf_counter()
    outputs = translate_all(translator, sources, config.beam_width)
    seconds = time.perf_counter() - started
    scores = corpus_scores(outputs, references, config.lowercase)
    greedy = corpus_scores(translate_all(translator, sources, 1, greedy=True), references, config.lowercase)
    copied = corpus_scores(sources, references, config.lowercase)
    scores.update(
        beam_width=config.beam_width,
        greedy_bleu=greedy["bleu"],
        greedy_chrf=greedy["chrf"],
        copy_source_bleu=copied["bleu"],
        copy_source_chrf=copied["chrf"],
        **validation,
        test_pairs_scored=len(sources),
        beam_sentences_per_second=round(len(sources) / seconds, 1),
        bleu_by_length=bleu_by_length(sources, outputs, references, config.lowercase),
    )
    examples = [
        {"source": source, "reference": reference, "output": output}
        for source, reference, output in list(zip(sources, references, outputs))[:EXAMPLES]
    ]
    scores["examples"] = examples
    write_report(run_path / "translations.md", scores, examples)
    scores["heatmaps"] = draw_heatmaps(translator, sources[:HEATMAPS], run_path)
    scores.update(HealthSample(config, data).health(model))  # of the weights kept, as the scores are
    return scores
