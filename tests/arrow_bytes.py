"""Arrow columns a careless writer could produce, for reader tests."""
from __future__ import annotations

import pyarrow as pa


def unvalidated_string_array(values: list[bytes | None]) -> pa.Array:
    """A string column holding arbitrary bytes (pyarrow does not validate UTF-8 here), as a
    writer that skips UTF-8 validation produces."""
    offsets, data, valid = [0], b"", []
    for value in values:
        data += value or b""
        offsets.append(len(data))
        valid.append(value is not None)
    mask = None if all(valid) else pa.array(valid).buffers()[1]
    buffers = [mask, pa.array(offsets, pa.int32()).buffers()[1], pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(values), buffers, null_count=valid.count(False))
