"""Dedup as one room: exact and MinHash near-duplicate removal.

    launcher.py              run_dedup: picks the engine, runs it, writes stats.json
    flags.py, options.py     the flags (from MinHashConfig) and Beam's DedupOptions
    common.py                counter names, summary keys, duplicate kinds, DedupError
    read.py                  ReadCuratedDocuments: the checked Parquet reader
    graph.py                 graph engine: signatures, exact groups, LSH edges, clusters
    connected_components.py  graph engine: large-star/small-star rounds in Beam
    spill.py, decide.py      spill engine: per-file passes around a driver step on integer ids
    sink.py                  OUT/documents/ and OUT/duplicates/

Keys, signatures, component steps, verified LSH edges and the same-id choice
are the pure rules in `curation/minhash.py`, `components.py` and
`dedup_rules.py`, which both engines call. This file imports
nothing, so `winnow dedup --help` (which reads flags.py) never loads Beam.
"""
