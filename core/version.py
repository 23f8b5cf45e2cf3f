"""The version of Winnow, recorded in every manifest and run summary it writes."""

__version__ = "0.2.0"
