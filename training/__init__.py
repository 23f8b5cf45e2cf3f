"""Tokenizer, token shards, model, trainer and evaluation. Never imports Apache Beam."""
