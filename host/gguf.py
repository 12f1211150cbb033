"""GGUF v2/v3 index over a byte source (file or URL): header, metadata and tensor table, read from
a prefix that grows only as far as the header needs, with every count, length and offset checked
against the file's size before anything is allocated. Bad input raises one GGUFError that says
what is wrong and at which byte offset."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from typeguard import typechecked

from .byte_source import ByteSource, SourceError, open_source


class GGUFError(Exception):
    def __init__(self, message: str, offset: int | None = None, source: str | None = None):
        self.offset, self.source = offset, source
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(f"{source + ': ' if source else ''}{message}{where}")


# ggml type id -> (name, values per block, bytes per block): ggml-common.h / ggml.c type traits.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 30: ("BF16", 1, 2),
    39: ("MXFP4", 32, 17),
}
TYPE_IDS = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}

# metadata value type -> (struct format or None for string/array, name)
VALUE_TYPES: dict[int, tuple[str | None, str]] = {
    0: ("<B", "u8"), 1: ("<b", "i8"), 2: ("<H", "u16"), 3: ("<h", "i16"), 4: ("<I", "u32"), 5: ("<i", "i32"),
    6: ("<f", "f32"), 7: ("<?", "bool"), 8: (None, "string"), 9: (None, "array"), 10: ("<Q", "u64"),
    11: ("<q", "i64"), 12: ("<d", "f64"),
}
MAX_DIMS = 4
MAX_NAME = 64  # GGML_MAX_NAME, terminator included: names are shorter
DEFAULT_ALIGNMENT = 32
_LENGTH = struct.Struct("<Q")  # the length before every string


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type_name: str
    type_id: int
    dims: tuple[int, ...]  # ne: dims[0] is the contiguous one
    offset: int  # absolute byte offset in the file
    nbytes: int | None  # None for a ggml type this reader does not know

    @property
    def n_values(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def row_bytes(self) -> int | None:
        """Bytes of one row (dims[0] values), for known types."""
        if self.type_id not in GGML_TYPES:
            return None
        _, block, size = GGML_TYPES[self.type_id]
        return self.dims[0] // block * size


@dataclass
class GGUFFile:
    source: str
    size: int
    version: int
    metadata: dict[str, Any]
    metadata_types: dict[str, str]
    alignment: int
    tensor_data_offset: int
    tensors: list[TensorInfo] = field(default_factory=list)
    header_bytes_read: int = 0

    def tensor(self, name: str) -> TensorInfo:
        for t in self.tensors:
            if t.name == name:
                return t
        raise GGUFError(f"no tensor named {name!r} (the file has {len(self.tensors)} tensors)", source=self.source)


class _Reader:
    """A cursor over the source's prefix, which it grows (doubling) as the header needs."""

    def __init__(self, source: ByteSource, first_read: int):
        self.src, self.pos, self.buf = source, 0, b""
        self.chunk = first_read

    def need(self, n: int, what: str) -> None:
        end = self.pos + n
        if end > self.src.size:
            raise GGUFError(f"file truncated: {what} needs {n} bytes, {self.src.size - self.pos} remain",
                            self.pos, self.src.name)
        if end > len(self.buf):
            grow = max(end - len(self.buf), self.chunk, len(self.buf))
            grow = min(grow, self.src.size - len(self.buf))
            self.buf += self.src.read(len(self.buf), grow)

    def remaining(self) -> int:
        return self.src.size - self.pos

    def unpack(self, fmt: str, what: str):
        size = struct.calcsize(fmt)
        self.need(size, what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def string(self, what: str) -> str:
        start = self.pos
        n = self.unpack("<Q", f"the length of {what}")
        if n > self.remaining():
            raise GGUFError(f"file truncated or corrupt: {what} claims {n} bytes but only {self.remaining()} remain",
                            start, self.src.name)
        self.need(n, what)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{what} is not valid UTF-8", start, self.src.name) from None

    def strings(self, count: int, what: str) -> list[str]:
        """An array's `count` strings (a vocabulary is 650k): those wholly inside the prefix read so far
        are decoded in one tight loop, and string() reads the prefix further or words the error of a bad one."""
        values: list[str] = []
        append, length_at = values.append, _LENGTH.unpack_from
        while len(values) < count:
            buf, pos, prefix = self.buf, self.pos, len(self.buf)
            try:
                while len(values) < count and pos + 8 <= prefix:
                    end = pos + 8 + length_at(buf, pos)[0]
                    if end > prefix:
                        break
                    append(buf[pos + 8:end].decode("utf-8"))
                    pos = end
            except UnicodeDecodeError:
                pass  # string() below reports it, at its offset
            self.pos = pos
            if len(values) < count:
                append(self.string(f"{what}[{len(values)}]"))
        return values

    def error(self, message: str, offset: int | None = None) -> GGUFError:
        return GGUFError(message, self.pos if offset is None else offset, self.src.name)


def _value(r: _Reader, vtype: int, what: str, depth: int = 0):
    if vtype not in VALUE_TYPES:
        raise r.error(f"{what} has unknown value type {vtype}", r.pos - 4)
    fmt, _ = VALUE_TYPES[vtype]
    if fmt is not None:
        return r.unpack(fmt, what)
    if vtype == 8:
        return r.string(what)
    start = r.pos
    etype = r.unpack("<I", f"the element type of {what}")
    count = r.unpack("<Q", f"the length of {what}")
    if etype == 9:
        raise r.error(f"{what} is an array of arrays, which GGUF does not allow", start)
    if etype not in VALUE_TYPES:
        raise r.error(f"{what} has unknown element type {etype}", start)
    min_size = 8 if etype == 8 else struct.calcsize(VALUE_TYPES[etype][0])
    if count * min_size > r.remaining():
        raise r.error(f"file truncated or corrupt: {what} claims {count} elements, more than the "
                      f"{r.remaining()} remaining bytes hold", start)
    efmt = VALUE_TYPES[etype][0]
    if efmt is not None:  # numbers: one unpack for the whole array
        r.need(count * min_size, what)
        values = list(struct.unpack_from(f"<{count}{efmt[1]}", r.buf, r.pos))
        r.pos += count * min_size
        return values
    return r.strings(count, what)


@typechecked
def read_gguf(source: ByteSource | str, first_read: int = 1 << 16) -> GGUFFile:
    """Index a GGUF file: reads only its header (the prefix before the tensor data)."""
    if isinstance(source, str):
        with open_source(source) as src:
            return read_gguf(src, first_read)
    r = _Reader(source, first_read)
    r.need(4, "the magic")
    magic_bytes = r.buf[:4]
    if magic_bytes != b"GGUF":
        raise r.error(f"not a GGUF file: the magic is {magic_bytes!r}, expected b'GGUF'", 0)
    r.pos = 4
    version = r.unpack("<I", "the version")
    if version not in (2, 3):
        raise r.error(f"unsupported GGUF version {version} (this reader knows 2 and 3)", 4)
    n_tensors = r.unpack("<Q", "the tensor count")
    n_kv = r.unpack("<Q", "the metadata count")
    if n_kv * 12 > r.remaining():  # each entry: key length (8) + value type (4) at least
        raise r.error(f"the header claims {n_kv} metadata entries, more than the file can hold", 16)
    if n_tensors * 28 > r.remaining():  # name length, n_dims, one dim, type, offset
        raise r.error(f"the header claims {n_tensors} tensors, more than the file can hold", 8)

    metadata: dict[str, Any] = {}
    types: dict[str, str] = {}
    for i in range(n_kv):
        start = r.pos
        key = r.string(f"the key of metadata entry {i}")
        if key in metadata:
            raise r.error(f"duplicate metadata key {key!r}", start)
        vtype = r.unpack("<I", f"the value type of {key!r}")
        metadata[key] = _value(r, vtype, f"metadata {key!r}")
        types[key] = VALUE_TYPES[vtype][1] if vtype in VALUE_TYPES else "?"

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if types.get("general.alignment", "u32") != "u32" or not isinstance(alignment, int) or alignment <= 0 \
            or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment must be a power of two (u32), got {alignment!r}", source=source.name)

    infos = []
    names = set()
    for i in range(n_tensors):
        start = r.pos
        name = r.string(f"the name of tensor {i}")
        if len(name.encode()) >= MAX_NAME:
            raise r.error(f"tensor name {name[:80]!r} is {len(name.encode())} bytes; GGUF allows fewer than {MAX_NAME}",
                          start)
        if name in names:
            raise r.error(f"duplicate tensor name {name!r}", start)
        names.add(name)
        n_dims = r.unpack("<I", f"the dimension count of {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise r.error(f"tensor {name!r} has {n_dims} dimensions; GGUF allows 1 to {MAX_DIMS}", r.pos - 4)
        dims = tuple(r.unpack("<Q", f"dimension {d} of {name!r}") for d in range(n_dims))
        type_id = r.unpack("<I", f"the type of {name!r}")
        offset = r.unpack("<Q", f"the offset of {name!r}")
        infos.append((start, name, dims, type_id, offset))

    data_start = -(-r.pos // alignment) * alignment
    tensors = []
    previous_end, previous_name = data_start, None
    for start, name, dims, type_id, offset in infos:
        if any(d == 0 or d > source.size * 8 for d in dims):
            raise r.error(f"tensor {name!r} has impossible dimensions {list(dims)}", start)
        type_name, block, block_bytes = GGML_TYPES.get(type_id, (f"type{type_id}", None, None))
        nbytes = None
        if block is not None:
            if dims[0] % block:
                raise r.error(f"tensor {name!r} ({type_name}) has {dims[0]} values per row, not a multiple of "
                              f"its block of {block}", start)
            n = 1
            for d in dims:
                n *= d
            nbytes = n // block * block_bytes
        if offset % alignment:
            raise r.error(f"tensor {name!r} has offset {offset}, not a multiple of the alignment {alignment}", start)
        absolute = data_start + offset
        if absolute < previous_end:
            raise r.error(f"tensor {name!r} at data offset {offset} overlaps the tensor before it "
                          f"({previous_name!r})", start)
        end = absolute + (nbytes or 0)
        if end > source.size:
            raise r.error(f"tensor {name!r} spans bytes {absolute}..{end}, past the end of the file "
                          f"({source.size} bytes)", start)
        previous_end, previous_name = end, name
        tensors.append(TensorInfo(name, type_name, type_id, dims, absolute, nbytes))
    if data_start > source.size and tensors:
        raise GGUFError(f"tensor data would start at {data_start}, past the end of the file", data_start, source.name)
    return GGUFFile(source.name, source.size, version, metadata, types, alignment, data_start, tensors, len(r.buf))


@typechecked
def read_tensor_bytes(source: ByteSource, info: TensorInfo, offset: int = 0, length: int | None = None) -> bytes:
    """Bytes of one tensor (or a slice of them), read by range."""
    if info.nbytes is None:
        raise GGUFError(f"tensor {info.name!r} has ggml type {info.type_id}, which this reader does not know; "
                        "its size is unknown", source=source.name)
    length = info.nbytes - offset if length is None else length
    if offset < 0 or length < 0 or offset + length > info.nbytes:
        raise GGUFError(f"bytes {offset}..{offset + length} are outside tensor {info.name!r} ({info.nbytes} bytes)",
                        source=source.name)
    try:
        return source.read(info.offset + offset, length)
    except SourceError as exc:
        raise GGUFError(str(exc), info.offset + offset) from None


__all__ = ["GGML_TYPES", "GGUFError", "GGUFFile", "TYPE_IDS", "TensorInfo", "read_gguf", "read_tensor_bytes"]
