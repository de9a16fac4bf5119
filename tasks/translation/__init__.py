"""Machine translation (many-to-many, encoder-decoder): English -> Spanish by default.

A recurrent encoder reads the source sentence; a recurrent decoder, started from the
encoder's final states through a bridge, writes the target one word at a time, with
attention over the encoder's outputs (none, additive, multiplicative or scaled). Training uses
teacher forcing; the export decodes with beam search inside the graph
(`common.decoding`), so a server sends English strings and gets Spanish strings back.
"""
