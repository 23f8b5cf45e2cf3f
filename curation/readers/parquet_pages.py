"""The uncompressed size of every page of a Parquet column chunk, read from the page headers.

A Parquet reader inflates a whole page before it yields a value, so a page
holding one 2 GB string costs 2 GB however small the batches asked for. The
footer gives only the column chunk's total, and pyarrow does not expose page
headers, so the few bytes of each header are read here: a page header is a
Thrift struct in the compact protocol (parquet-format's PageHeader) whose
fields 2 and 3 are the uncompressed and compressed page sizes. Other fields
(statistics, which can hold a copy of a huge value) are skipped by seeking,
never read. Only chunks whose total is over the record size limit are walked.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from winnow.core.errors import InputError

_STOP = 0
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_UNCOMPRESSED_SIZE_FIELD = 2
_COMPRESSED_SIZE_FIELD = 3
# DataPageHeader (v1) and DataPageHeaderV2, whose field 1 is the page's num_values.
_DATA_PAGE_HEADER_FIELDS = (5, 8)
_READ_AHEAD = 4096
# A header is small; nesting past this is a corrupt file, not a deeper struct.
_MAX_DEPTH = 16


class PageHeaderError(InputError):
    """The bytes at a page offset are not a readable page header."""


class _Cursor:
    """Random access to a seekable stream, a small window at a time."""

    def __init__(self, stream: BinaryIO, pos: int):
        self._stream = stream
        self.pos = pos
        self._buf = b""
        self._start = 0
        self.size = stream.seek(0, 2)

    def check_count(self, count: int) -> int:
        """`count` elements each take at least a byte: more than the file has left is corruption,
        not a reason to loop 2**60 times."""
        if count < 0 or count > self.size - self.pos:
            raise PageHeaderError(f"a page header declares {count} elements, more than the file holds")
        return count

    def byte(self) -> int:
        offset = self.pos - self._start
        if not 0 <= offset < len(self._buf):
            if not 0 <= self.pos < self.size:  # a skipped length past the end (or past what seek takes)
                raise PageHeaderError(f"the file ends inside a page header at byte {self.pos}")
            self._stream.seek(self.pos)
            self._buf, self._start, offset = self._stream.read(_READ_AHEAD), self.pos, 0
            if not self._buf:
                raise PageHeaderError(f"the file ends inside a page header at byte {self.pos}")
        self.pos += 1
        return self._buf[offset]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise PageHeaderError("varint too long in a page header")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)


def _skip(cursor: _Cursor, kind: int, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise PageHeaderError("page header nested too deeply")
    if kind in (_BOOL_TRUE, _BOOL_FALSE):
        return
    if kind == _BYTE:
        cursor.pos += 1
    elif kind in (_I16, _I32, _I64):
        cursor.varint()
    elif kind == _DOUBLE:
        cursor.pos += 8
    elif kind == _BINARY:
        length = cursor.varint()  # read before moving: `pos += varint()` would drop the length's bytes
        cursor.pos += length
    elif kind in (_LIST, _SET):
        head = cursor.byte()
        size = cursor.check_count(head >> 4 if head >> 4 != 15 else cursor.varint())
        for _ in range(size):
            _skip(cursor, head & 0x0F if head & 0x0F not in (_BOOL_TRUE, _BOOL_FALSE) else _BYTE, depth + 1)
    elif kind == _MAP:
        size = cursor.check_count(cursor.varint())
        if size:
            types = cursor.byte()
            for _ in range(size):
                _skip(cursor, types >> 4, depth + 1)
                _skip(cursor, types & 0x0F, depth + 1)
    elif kind == _STRUCT:
        _struct(cursor, depth + 1)
    else:
        raise PageHeaderError(f"unknown Thrift type {kind} in a page header")


def _struct(cursor: _Cursor, depth: int) -> dict[int, Any]:
    """Read past a struct; its i32 fields by field id, and (at the top level) its struct fields' i32 fields."""
    fields: dict[int, Any] = {}
    field_id = 0
    while True:
        head = cursor.byte()
        if head == _STOP:
            return fields
        kind, delta = head & 0x0F, head >> 4
        field_id = field_id + delta if delta else cursor.zigzag()
        if kind == _I32:
            fields[field_id] = cursor.zigzag()
        elif kind == _STRUCT and depth == 0:
            fields[field_id] = _struct(cursor, depth + 1)
        else:
            _skip(cursor, kind, depth)


def page_sizes(stream: BinaryIO, start: int, num_values: int) -> Iterator[int]:
    """Uncompressed size of each page of the column chunk at `start` holding `num_values` values.

    The walk ends when the data pages have held all the values (writers
    disagree on whether the chunk's total size counts the file's magic bytes,
    so the byte length is not a reliable end)."""
    cursor = _Cursor(stream, start)
    seen = 0
    while seen < num_values:
        fields = _struct(cursor, 0)
        try:
            uncompressed, compressed = fields[_UNCOMPRESSED_SIZE_FIELD], fields[_COMPRESSED_SIZE_FIELD]
        except KeyError:
            raise PageHeaderError(f"page header at byte {start} lacks its sizes") from None
        if compressed < 0 or uncompressed < 0:
            raise PageHeaderError(f"negative page size in the page header before byte {cursor.pos}")
        data_header = next((fields[f] for f in _DATA_PAGE_HEADER_FIELDS if isinstance(fields.get(f), dict)), None)
        if data_header is not None:
            values = data_header.get(1, 0)
            if not isinstance(values, int) or values <= 0:
                raise PageHeaderError(f"data page header before byte {cursor.pos} has no value count")
            seen += values
        yield uncompressed
        cursor.pos += compressed


def largest_page(stream: BinaryIO, start: int, num_values: int) -> int:
    """The largest uncompressed page of a column chunk (0 for a chunk without pages)."""
    return max(page_sizes(stream, start, num_values), default=0)
