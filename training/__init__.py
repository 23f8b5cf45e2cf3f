"""Tokenizer, token shards, model, trainer and evaluation. Never imports Apache Beam."""
from winnow.training.threads import prefer_passive_waiting

# Before any submodule imports torch: OpenMP reads its wait policy once, at load (see threads.py).
prefer_passive_waiting()
