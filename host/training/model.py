"""gpt-oss in torch, for training: the forward pass of ../shared/reference/gpt-oss.md (OpenAI's
torch/model.py, as llama.cpp runs it) at the demo's size. RMSNorm, q/k/v with biases, RoPE NeoX
(no scaling), grouped-query attention with a learned sink per head and a sliding window on even
layers, a router picking top-k experts with softmax over the k, SwiGLU-OAI experts with biases.
Parameter names are the GGUF's tensor names (export.py writes them as they are)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

SWIGLU_ALPHA, SWIGLU_LIMIT = 1.702, 7.0


@dataclass(frozen=True)
class Shape:
    n_vocab: int
    n_layer: int = 4
    d_model: int = 256
    n_head: int = 8
    n_kv: int = 2
    head_dim: int = 32
    n_expert: int = 8
    n_expert_used: int = 4
    expert_ffn: int = 512
    sliding_window: int = 128
    context_length: int = 1024
    rope_base: float = 10000.0
    eps: float = 1e-5


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x, positions, base):
    """NeoX RoPE: pairs (x[i], x[i + d/2]). x: [batch, heads, T, d]."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d // 2, device=x.device, dtype=torch.float32) * 2 / d)
    theta = positions[:, None].float() * inv[None, :]
    cos, sin = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def swiglu(gate, up):
    gate = gate.clamp(max=SWIGLU_LIMIT)
    up = up.clamp(-SWIGLU_LIMIT, SWIGLU_LIMIT)
    return gate * torch.sigmoid(SWIGLU_ALPHA * gate) * (up + 1)


class Block(nn.Module):
    def __init__(self, s: Shape, layer: int, dropout: float = 0.0):
        super().__init__()
        self.s, self.window, self.dropout = s, s.sliding_window if layer % 2 == 0 else None, dropout
        d, q, kv, e, f = s.d_model, s.n_head * s.head_dim, s.n_kv * s.head_dim, s.n_expert, s.expert_ffn
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.attn_q, self.attn_k, self.attn_v = nn.Linear(d, q), nn.Linear(d, kv), nn.Linear(d, kv)
        self.attn_output = nn.Linear(q, d)
        self.attn_sinks = nn.Parameter(torch.zeros(s.n_head))
        self.post_attention_norm = nn.Parameter(torch.ones(d))
        self.ffn_gate_inp = nn.Linear(d, e)
        scale_in, scale_mid = 1 / math.sqrt(d), 1 / math.sqrt(f)
        self.ffn_gate_exps = nn.Parameter(torch.randn(e, f, d) * scale_in)
        self.ffn_up_exps = nn.Parameter(torch.randn(e, f, d) * scale_in)
        self.ffn_down_exps = nn.Parameter(torch.randn(e, d, f) * scale_mid)
        self.ffn_gate_exps_b = nn.Parameter(torch.zeros(e, f))
        self.ffn_up_exps_b = nn.Parameter(torch.zeros(e, f))
        self.ffn_down_exps_b = nn.Parameter(torch.zeros(e, d))

    def attention(self, x, positions):
        s = self.s
        B, T, _ = x.shape
        h = rms_norm(x, self.attn_norm, s.eps)
        q = self.attn_q(h).view(B, T, s.n_head, s.head_dim).transpose(1, 2)
        k = self.attn_k(h).view(B, T, s.n_kv, s.head_dim).transpose(1, 2)
        v = self.attn_v(h).view(B, T, s.n_kv, s.head_dim).transpose(1, 2)
        q, k = rope(q, positions, s.rope_base), rope(k, positions, s.rope_base)
        group = s.n_head // s.n_kv
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(s.head_dim)  # [B, H, T, T]
        i, j = positions[:, None], positions[None, :]
        allowed = j <= i
        if self.window is not None:
            allowed = allowed & (i - j < self.window)
        scores = scores.masked_fill(~allowed, float("-inf"))
        sink = self.attn_sinks.view(1, -1, 1, 1).expand(B, -1, T, 1).to(scores.dtype)
        p = torch.softmax(torch.cat([scores, sink], dim=-1), dim=-1)[..., :-1]  # the sink has no value
        o = (p @ v).transpose(1, 2).reshape(B, T, -1)
        return x + F.dropout(self.attn_output(o), self.dropout, self.training)

    def experts(self, x):
        s = self.s
        h = rms_norm(x, self.post_attention_norm, s.eps)
        r = self.ffn_gate_inp(h)
        top, ids = r.topk(s.n_expert_used, dim=-1)
        w = torch.zeros_like(r, dtype=torch.float32).scatter(-1, ids, torch.softmax(top.float(), dim=-1))  # [B, T, E], zero off the top k
        if self.training:  # Switch-style balance: n_expert * sum_e (share of picks of e) * (mean probability of e)
            picks = torch.zeros_like(r).scatter(-1, ids, 1.0).float().mean((0, 1)) / s.n_expert_used
            self.balance = s.n_expert * (picks * torch.softmax(r.float(), -1).mean((0, 1))).sum()
        # Every expert on every token (8 experts: cheaper on a GPU than gathering), weighted by w.
        gate = torch.einsum("btd,efd->btef", h, self.ffn_gate_exps) + self.ffn_gate_exps_b
        up = torch.einsum("btd,efd->btef", h, self.ffn_up_exps) + self.ffn_up_exps_b
        out = torch.einsum("btef,edf->bted", swiglu(gate, up), self.ffn_down_exps) + self.ffn_down_exps_b
        return x + F.dropout((w.unsqueeze(-1) * out).sum(2), self.dropout, self.training)

    def forward(self, x, positions):
        return self.experts(self.attention(x, positions))


class GptOss(nn.Module):
    """dropout (training only; the GGUF has none) regularizes a model this size on a corpus this small."""
    def __init__(self, s: Shape, dropout: float = 0.0):
        super().__init__()
        self.s = s
        self.token_embd = nn.Embedding(s.n_vocab, s.d_model)
        nn.init.normal_(self.token_embd.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(s, layer, dropout) for layer in range(s.n_layer))
        self.output_norm = nn.Parameter(torch.ones(s.d_model))
        self.output = nn.Linear(s.d_model, s.n_vocab, bias=False)

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embd(tokens)
        for block in self.blocks:
            x = block(x, positions)
        return self.output(rms_norm(x, self.output_norm, self.s.eps))

    def balance(self):
        """The router's load-balancing loss of the last training forward, averaged over layers."""
        return torch.stack([b.balance for b in self.blocks]).mean()

    def gguf_parameters(self):
        """(GGUF tensor name, parameter), in the GGUF's order; each parameter's rows are the rows of
        the tensor's last ne dimension (torch's [out, in] is ggml's ne {in, out})."""
        yield "token_embd.weight", self.token_embd.weight
        for n, b in enumerate(self.blocks):
            p = f"blk.{n}."
            yield p + "attn_norm.weight", b.attn_norm
            for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
                yield p + name + ".weight", getattr(b, name).weight
                yield p + name + ".bias", getattr(b, name).bias
            yield p + "attn_sinks.weight", b.attn_sinks
            yield p + "post_attention_norm.weight", b.post_attention_norm
            yield p + "ffn_gate_inp.weight", b.ffn_gate_inp.weight
            yield p + "ffn_gate_inp.bias", b.ffn_gate_inp.bias
            for name in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
                yield p + name + ".weight", getattr(b, name)
                yield p + name + ".bias", getattr(b, name + "_b")
        yield "output_norm.weight", self.output_norm
        yield "output.weight", self.output.weight

    def gguf_tensors(self) -> dict:
        """name -> float32 numpy array, as export.py writes them."""
        return {name: p.detach().float().cpu().numpy() for name, p in self.gguf_parameters()}

    def load_gguf_tensors(self, tensors: dict) -> None:
        """The inverse of gguf_tensors (to evaluate the dequantized model)."""
        with torch.no_grad():
            for name, p in self.gguf_parameters():
                p.copy_(torch.as_tensor(tensors[name]).view_as(p))
