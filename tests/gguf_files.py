"""GGUF test files: written by gguf-py (an independent writer), and raw ones we craft byte by byte
to reach corners gguf-py will not write (version 2, unknown tensor types, broken headers)."""
from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from gguf.quants import quantize


def every_value_type(path: Path) -> Path:
    """All 13 metadata value types, arrays of numbers and strings, and F32/F16/Q8_0/MXFP4/BF16 tensors."""
    w = gguf.GGUFWriter(str(path), "test")
    for name, value, vtype in [("u8", 200, V.UINT8), ("i8", -100, V.INT8), ("u16", 60000, V.UINT16),
                               ("i16", -30000, V.INT16), ("u32", 4000000000, V.UINT32), ("i32", -2000000000, V.INT32),
                               ("f32", 1.5, V.FLOAT32), ("bool", True, V.BOOL), ("string", "héllo", V.STRING),
                               ("u64", 2**63 + 5, V.UINT64), ("i64", -2**62, V.INT64), ("f64", 2.25, V.FLOAT64)]:
        w.add_key_value(f"t.{name}", value, vtype)
    w.add_array("t.array_i32", [1, -2, 3])
    w.add_array("t.array_str", ["a", "", "ccc"])
    w.add_array("t.array_f32", [0.5, 1.5])
    rng = np.random.default_rng(0)
    w.add_tensor("f32", rng.standard_normal((3, 8)).astype(np.float32))
    w.add_tensor("f16", rng.standard_normal((2, 16)).astype(np.float16))
    w.add_tensor("q8", quantize(rng.standard_normal((4, 64)).astype(np.float32), Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("mx", quantize(rng.standard_normal((2, 3, 64)).astype(np.float32), Q.MXFP4), raw_dtype=Q.MXFP4)
    w.add_tensor("bf", quantize(rng.standard_normal((5, 32)).astype(np.float32), Q.BF16), raw_dtype=Q.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def raw_gguf(*, version=3, kv=(("general.alignment", 4, struct.pack("<I", 32)),),
             tensors=(("t", (32,), 0, 0),), data_bytes=None, magic=b"GGUF", alignment=32) -> bytes:
    """A GGUF built by hand: kv entries are (key, type, packed value); tensors (name, dims, type, offset)."""
    out = magic + struct.pack("<IQQ", version, len(tensors), len(kv))
    for key, vtype, packed in kv:
        out += _string(key) + struct.pack("<I", vtype) + packed
    for name, dims, ttype, offset in tensors:
        out += _string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
    out += b"\0" * (-len(out) % alignment)
    if data_bytes is None:
        data_bytes = 32 * 4 * max(1, len(tensors))
    return out + bytes(range(256)) * (data_bytes // 256) + bytes(data_bytes % 256)


PROTOTYPE_NAMES = ("constructor", "toString", "__proto__", "hasOwnProperty", "valueOf")


def prototype_keys(path: Path) -> Path:
    """Metadata keys that are names on a JavaScript object's prototype: ordinary keys in GGUF."""
    w = gguf.GGUFWriter(str(path), "test")
    for i, key in enumerate(PROTOTYPE_NAMES):
        w.add_key_value(key, [f"value {i}", i, i + 0.5, i % 2 == 0, [i, -i]][i % 5],
                        [V.STRING, V.UINT32, V.FLOAT32, V.BOOL, V.ARRAY][i % 5])
    w.add_tensor("t", np.arange(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def non_finite_floats(path: Path) -> Path:
    """f32 and f64 metadata that is NaN or infinite, alone and in an array."""
    w = gguf.GGUFWriter(str(path), "test")
    w.add_key_value("t.nan", float("nan"), V.FLOAT32)
    w.add_key_value("t.inf", float("inf"), V.FLOAT64)
    w.add_key_value("t.minus_inf", float("-inf"), V.FLOAT32)
    w.add_key_value("t.finite", 0.25, V.FLOAT64)
    w.add_array("t.floats", [float("nan"), float("inf"), float("-inf"), 1.5])
    w.add_array("t.many_floats", [float("inf")] * 20)  # dump --json shows a long array's first values
    w.add_tensor("t", np.zeros(32, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# The real gpt-oss vocabulary's sizes: tokenizer.ggml.tokens, tokenizer.ggml.merges (and token_type).
VOCABULARY_TOKENS, VOCABULARY_MERGES = 201_088, 446_189
_PIECES = ("Ġ", "the", "é", "中文", "😀", " ", "\n", "ing", "a", "\u200b", "'", "\\", "Ċ", "\0")


def vocabulary_strings() -> tuple[list[str], list[str]]:
    """Tokens and merges, as many as gpt-oss has: strings of 1- to 4-byte UTF-8 characters (NUL and a
    zero-width space among them), the empty string, and a few over 127 bytes long."""
    def token(i: int) -> str:
        pieces = []
        while True:
            pieces.append(_PIECES[i % len(_PIECES)])
            i //= len(_PIECES)
            if not i:
                return "".join(pieces)

    tokens = [token(i) for i in range(VOCABULARY_TOKENS)]
    tokens[100] = ""
    for i in range(0, VOCABULARY_TOKENS, 40_000):
        tokens[i] = "=" * (100 + i // 1000) + str(i)
    merges = [f"{tokens[i % 5000]} {tokens[i * 7 % VOCABULARY_TOKENS]}" for i in range(VOCABULARY_MERGES)]
    return tokens, merges


def vocabulary(path: Path, tensor_bytes: int = 16 << 20) -> Path:
    """A GGUF whose header holds a gpt-oss-sized vocabulary (~650k strings, ~18 MB), and `tensor_bytes` of
    tensor data after it, which a header reader must not read."""
    tokens, merges = vocabulary_strings()
    w = gguf.GGUFWriter(str(path), "gpt-oss")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.merges", merges)
    w.add_array("tokenizer.ggml.token_type", [i % 6 for i in range(VOCABULARY_TOKENS)])
    w.add_tensor("weights", np.zeros(tensor_bytes // 4, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
