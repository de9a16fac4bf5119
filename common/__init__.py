"""Shared by every task: options, data sources, text, cells, decoding, trainer, runs, export, reports."""

SUITE_VERSION = "0.2.0"
