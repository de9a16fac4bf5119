"""Shared layer of the RNN task suite: config, data, text, cells, training, export."""
