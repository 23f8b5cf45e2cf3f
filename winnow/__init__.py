"""Winnow: corpus curation on Apache Beam with a training backend."""

__version__ = "0.1.0"
