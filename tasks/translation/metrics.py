"""Held-out translation scores: sacrebleu corpus BLEU and chrF (detokenized output against
the raw references; the metric signatures are saved), greedy and beam search, BLEU by source
length, the copy-the-source baseline, 10 example translations and attention heat maps."""

import time

import numpy as np
import sacrebleu
import tensorflow as tf

from tasks.translation import plots
from tasks.translation.config import Config
from tasks.translation.data import Data
from tasks.translation.serve import Translator

LENGTH_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, None))  # source words
EXAMPLES = 10
HEATMAPS = 3


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
    run's width, greedy decoding, and copying the source as a baseline."""
    sources, references = data.pairs["test"]
    if config.evaluate_limit:
        sources, references = sources[: config.evaluate_limit], references[: config.evaluate_limit]
    translator = Translator(model, config, data.assets)
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
    return scores
