"""The foot of the house: what every library of Winnow may import.

`core/` holds what curation, training, pipelines, schemas and the application
all stand on, and nothing else: atomic file writes (`atomic`), JSON Lines
(`jsonl`), the error base class and its consequences with their exit codes
(`errors`), the one strict configuration loader (`config_loader`), and the
version (`version`). It imports the standard library and itself only, never
another Winnow package, so any package can import it without an arrow pointing
up (tests/test_layering.py checks it).
"""
