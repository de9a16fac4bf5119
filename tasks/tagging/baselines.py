"""The per-word baseline every tagging run is measured against."""

import collections


def most_frequent_tag_baseline(train_tokens, train_tags):
    """The per-word baseline: each word's most frequent training tag; unknown words get
    the most frequent tag overall (O for named entities)."""
    by_word = collections.defaultdict(collections.Counter)
    overall = collections.Counter()
    for sentence, tags in zip(train_tokens, train_tags):
        for word, tag in zip(sentence, tags):
            by_word[word][tag] += 1
            overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    best = {word: counts.most_common(1)[0][0] for word, counts in by_word.items()}
    return lambda sentences: [[best.get(word, fallback) for word in sentence] for sentence in sentences]
