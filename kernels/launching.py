"""Host-side helpers shared by the kernels' numpy-facing functions: raw bytes as words, grids
beyond 65535 workgroups, and weights split by rows over bindings that the device can hold."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from dsl.executor import current_executor

MAX_GRID = 65535


def as_bytes(raw) -> np.ndarray:
    """Raw bytes (bytes, memoryview or an array) as a uint8 array, without copying."""
    if isinstance(raw, np.ndarray):
        return raw.reshape(-1).view(np.uint8)
    return np.frombuffer(raw, np.uint8)


def words(raw) -> np.ndarray:
    """Bytes as u32 words for an array<u32> binding, padded by one word: the last block's reads may
    touch the word after it."""
    data = as_bytes(raw)
    padded = np.zeros(-(-(len(data) + 4) // 4) * 4, np.uint8)
    padded[: len(data)] = data
    return padded.view(np.uint32)


def grid_for(n_groups: int) -> tuple[int, int]:
    """A 2D grid of at least n_groups workgroups; kernels index them as x + y * num_workgroups.x."""
    return (min(max(n_groups, 1), MAX_GRID), -(-max(n_groups, 1) // MAX_GRID))


def device_binding_limit() -> int:
    return current_executor().limits["max-storage-buffer-binding-size"]


def arithmetic(kernel, f16: bool | None):
    """The kernel's variant that computes in f16 (True) or in f32 (False), with the most other
    features the adapter offers; None: the adapter's best variant."""
    if f16 is None:
        return kernel
    have = current_executor().features
    chosen = kernel.variant_for(have if f16 else have - {"shader-f16"})
    if ("shader-f16" in chosen.features) != f16:
        raise ValueError(f"{kernel.name} has no f16 variant this adapter can run")
    return chosen


def row_chunks(rows: int, row_bytes: int, limit: int) -> Iterator[tuple[int, int, int, int]]:
    """(first row, rows, first byte, byte offset of the first row inside the chunk's words) for
    chunks of whole rows that fit a binding of `limit` bytes (with room for alignment and padding)."""
    per_chunk = (limit - 8) // row_bytes
    if per_chunk < 1:
        raise ValueError(f"one row ({row_bytes} bytes) does not fit a binding of {limit} bytes")
    for r0 in range(0, rows, per_chunk):
        start = r0 * row_bytes
        aligned = start - start % 4
        yield r0, min(per_chunk, rows - r0), aligned, start - aligned
