"""The decode state: a small GPU buffer of u32 words that the token step reads, so that nothing but
the token crosses the bus. Word TOKEN holds the current token id (embed reads it; the last argmax
pass writes the next one there), word POS its position (RoPE, the KV append and attention read it).
The host writes the 8 bytes before a step when it chooses the token (prefill) and reads word TOKEN
back after it."""
import numpy as np

TOKEN, POS = 0, 1
WORDS = 4  # 16 bytes: the smallest buffer every WebGPU implementation binds


def state_at(pos: int, token: int = 0) -> np.ndarray:
    """A decode state holding this position and token, as the numpy helpers pass it."""
    state = np.zeros(WORDS, np.uint32)
    state[POS], state[TOKEN] = pos, token
    return state
