#!/usr/bin/python3
"""PyTorch mirror of the moe.cpp models (docs/MODEL.md) and a checker for the C++ outputs.

Usage:
  moe_reference.py check DIR   rebuild the model from DIR, recompute in float64 and compare
  moe_reference.py selftest    run `check` on directories written from this model in float32
  moe_reference.py hf-check HF_DIR LOGITS
                               rebuild the model from a Hugging Face Llama/Mixtral folder by its
                               config.json fields and tensor names alone, and compare its float64
                               logits with LOGITS (tokens and logits, as tests/tools/hf_logits
                               writes them)
  moe_reference.py hf-write HF_DIR --arch mixtral|llama --dtype bf16|fp16|fp32
                            --tokenizer BPE_DIR --tokens IDS
                               write a small random model as a Hugging Face folder (config.json,
                               model.safetensors, vocab.json + merges.txt from BPE_DIR's
                               encoder.json + vocab.bpe) and print its float64 mean loss on the
                               non-overlapping max_position_embeddings windows of IDS (one id a
                               line), as `moe eval --contiguous` scores them

DIR holds config.json (flat model config), model.safetensors (initial weights),
case.safetensors (tokens, targets, noise draws and the outputs under test) and train.json
(optimiser settings); the docstring of `run_check` lists the expected tensors.
Tensors are compared by the norm-wise relative error ||ours - ref|| / ||ref||.
Exit status: 0 pass, 1 fail, 2 malformed input.
"""

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOLERANCE = 1e-4  # norm-wise relative error
ZERO_NORM_TOLERANCE = 1e-6  # norm allowed where the reference is exactly zero
WORST_GRADS_SHOWN = 3


class MalformedInput(Exception):
    """The check directory is incomplete or inconsistent (exit status 2)."""


# ----------------------------------------------------------------------------- safetensors

_ST_DTYPES = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
}
_TORCH_TO_ST = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32",
                torch.float16: "F16", torch.bfloat16: "BF16"}
_HALF_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16}  # stored as 16-bit words


def read_safetensors(path):
    """Returns {name: tensor} from a safetensors file (F32, F64, I32, F16, BF16)."""
    if not os.path.isfile(path):
        raise MalformedInput(f"missing file {path}")
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise MalformedInput(f"{path}: shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise MalformedInput(f"{path}: header length {header_len} runs past the file")
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedInput(f"{path}: bad JSON header ({err})") from err
    data = memoryview(blob)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            half = _HALF_DTYPES.get(info["dtype"])
            dtype = np.dtype("<i2") if half is not None else _ST_DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedInput(f"{path}: bad header entry for {name}: {info}") from err
        nbytes = math.prod(shape) * dtype.itemsize
        if end - begin != nbytes or begin < 0 or end > len(data):
            raise MalformedInput(
                f"{path}: {name} has offsets [{begin}, {end}) for {nbytes} bytes "
                f"(data section {len(data)} bytes)")
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
        tensor = torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))
        tensors[name] = tensor.view(half) if half is not None else tensor
    return tensors


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float32, float64, int32, float16 or bfloat16) as a safetensors
    file."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        code = _TORCH_TO_ST[tensor.dtype]
        if code in _HALF_DTYPES:
            raw = tensor.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = tensor.numpy().astype(_ST_DTYPES[code]).tobytes()
        header[name] = {
            "dtype": code,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format pads the header to 8-byte alignment
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


# ----------------------------------------------------------------------------- configuration

CONFIG_KEYS = (
    "arch", "vocab_size", "block_size", "n_embed", "n_layers", "n_heads", "n_kv_heads",
    "ffn_hidden", "n_experts", "top_k", "moe_layers", "router", "n_shared_experts",
    "capacity_factor", "aux_loss_coef", "z_loss_coef", "norm_eps", "rope_theta", "dropout",
)
TRAIN_KEYS = (
    "steps", "lr", "temperature", "beta1", "beta2", "eps", "weight_decay", "grad_clip",
    "decay_params",
)


def parse_moe_layers(value, n_layers):
    """MoE layer indices from a list, or from the C++ config's string forms
    ("all", "none", "every:N" = layers i % N == N - 1, "0,2,5")."""
    if isinstance(value, list):
        layers = value
    elif value == "all":
        layers = list(range(n_layers))
    elif value in ("none", ""):
        layers = []
    elif isinstance(value, str) and value.startswith("every:"):
        every = int(value[len("every:"):])
        layers = [i for i in range(n_layers) if i % every == every - 1]
    elif isinstance(value, str):
        layers = [int(part) for part in value.split(",")]
    else:
        raise MalformedInput(f"config.json: moe_layers {value!r} is not a list")
    layers = sorted({int(i) for i in layers})
    if any(i < 0 or i >= n_layers for i in layers):
        raise MalformedInput(f"config.json: moe_layers {value!r} outside [0, {n_layers})")
    return layers


class ModelConfig:
    """The model keys of config.json (unknown keys are ignored)."""

    def __init__(self, raw):
        missing = [key for key in CONFIG_KEYS if key not in raw]
        if missing:
            raise MalformedInput(f"config.json: missing keys {missing}")
        self.arch = raw["arch"]
        self.router = raw["router"]
        if self.arch not in ("gpt", "llama"):
            raise MalformedInput(f"config.json: unknown arch {self.arch!r}")
        if self.router not in ("topk", "noisy_topk", "temperature", "expert_choice"):
            raise MalformedInput(f"config.json: unknown router {self.router!r}")
        for key in ("vocab_size", "block_size", "n_embed", "n_layers", "n_heads",
                    "n_kv_heads", "ffn_hidden", "n_experts", "top_k", "n_shared_experts"):
            setattr(self, key, int(raw[key]))
        for key in ("capacity_factor", "aux_loss_coef", "z_loss_coef", "norm_eps",
                    "rope_theta", "dropout"):
            setattr(self, key, float(raw[key]))
        self.moe_layers = parse_moe_layers(raw["moe_layers"], self.n_layers)
        # Sigmoid gating and auxiliary-loss-free balancing (absent from older configs).
        self.router_score = raw.get("router_score", "softmax")
        self.routed_scaling_factor = float(raw.get("routed_scaling_factor", 1.0))
        self.router_bias = bool(raw.get("router_bias", False))
        if self.router_score not in ("softmax", "sigmoid"):
            raise MalformedInput(f"config.json: unknown router_score {self.router_score!r}")
        # Balance losses beyond the per-micro-batch Switch loss (absent from older files).
        self.seq_aux_loss_coef = float(raw.get("seq_aux_loss_coef", 0.0))
        self.aux_loss_scope = raw.get("aux_loss_scope", "micro_batch")
        if self.aux_loss_scope not in ("micro_batch", "global_batch"):
            raise MalformedInput(f"config.json: unknown aux_loss_scope {self.aux_loss_scope!r}")
        # Fine-grained experts (DeepSeekMoE): routed and shared experts' hidden size, 0 meaning
        # ffn_hidden; configs written before the setting existed lack it.
        self.expert_hidden = int(raw.get("expert_hidden", 0))
        # The attention scale, 0 meaning 1/sqrt(head_dim) (absent from older configs); the
        # makemoe preset scales by n_embed**-0.5 as the makeMoE tutorial's heads do.
        self.attention_scale = float(raw.get("attention_scale", 0.0))
        if self.dropout != 0.0:
            raise MalformedInput("config.json: dropout must be 0 (the check is deterministic)")
        if self.n_embed % self.n_heads or self.n_heads % self.n_kv_heads:
            raise MalformedInput("config.json: n_heads must divide n_embed, n_kv_heads n_heads")
        if self.moe_layers and not 1 <= self.top_k <= self.n_experts:
            raise MalformedInput("config.json: top_k must be in [1, n_experts]")

    @property
    def head_dim(self):
        return self.n_embed // self.n_heads

    @property
    def expert_ffn_hidden(self):
        return self.expert_hidden if self.expert_hidden > 0 else self.ffn_hidden


# ----------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight (Zhang, Sennrich 2019), as Hugging Face Llama."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, theta):
    """Rotary embedding, "rotate half" layout: x (B, T, H, D) at positions 0..T-1."""
    _, t, _, d = x.shape
    inv_freq = theta ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)  # theta^(-2i/D)
    angles = torch.arange(t, dtype=x.dtype)[:, None] * inv_freq[None, :]  # (T, D/2)
    cos = torch.cat([angles.cos(), angles.cos()], -1)[None, :, None, :]
    sin = torch.cat([angles.sin(), angles.sin()], -1)[None, :, None, :]
    rotated = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * cos + rotated * sin


def causal_attention(q, k, v, scale=0.0):
    """q (B, T, H, D), k and v (B, T, H_kv, D) -> (B, T, H*D); head h reads kv head
    h / (H / H_kv). Scores are q.k times scale, 0 meaning 1/sqrt(D)."""
    b, t, h, d = q.shape
    group = h // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # (B, H, T, D)
    scores = q @ k.transpose(-2, -1) * (scale if scale != 0.0 else 1.0 / math.sqrt(d))
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    att = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (att @ v).transpose(1, 2).reshape(b, t, h * d)


class GptAttention(nn.Module):
    """makeMoE's heads: q, k, v (C, C) without biases, output projection with a bias."""

    def __init__(self, cfg):
        super().__init__()
        c = cfg.n_embed
        self.n_heads = cfg.n_heads
        self.scale = cfg.attention_scale
        self.q_proj = nn.Linear(c, c, bias=False)
        self.k_proj = nn.Linear(c, c, bias=False)
        self.v_proj = nn.Linear(c, c, bias=False)
        self.c_proj = nn.Linear(c, c)

    def forward(self, a):
        b, t, _ = a.shape
        q, k, v = (proj(a).view(b, t, self.n_heads, -1)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        return self.c_proj(causal_attention(q, k, v, self.scale))


class LlamaAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, d = cfg.n_embed, cfg.head_dim
        self.n_heads, self.n_kv_heads = cfg.n_heads, cfg.n_kv_heads
        self.theta = cfg.rope_theta
        self.q_proj = nn.Linear(c, cfg.n_heads * d, bias=False)
        self.k_proj = nn.Linear(c, cfg.n_kv_heads * d, bias=False)
        self.v_proj = nn.Linear(c, cfg.n_kv_heads * d, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * d, c, bias=False)

    def forward(self, a):
        b, t, _ = a.shape
        q = rope(self.q_proj(a).view(b, t, self.n_heads, -1), self.theta)
        k = rope(self.k_proj(a).view(b, t, self.n_kv_heads, -1), self.theta)
        v = self.v_proj(a).view(b, t, self.n_kv_heads, -1)
        return self.o_proj(causal_attention(q, k, v))


class GptExpert(nn.Module):
    """w2(relu(w1 x + b1)) + b2."""

    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg.n_embed, cfg.expert_ffn_hidden)
        self.w2 = nn.Linear(cfg.expert_ffn_hidden, cfg.n_embed)

    def forward(self, x):
        return self.w2(F.relu(self.w1(x)))


class LlamaExpert(nn.Module):
    """w2(silu(w1 x) * (w3 x)) (SwiGLU, Shazeer 2020)."""

    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg.n_embed, cfg.expert_ffn_hidden, bias=False)
        self.w3 = nn.Linear(cfg.n_embed, cfg.expert_ffn_hidden, bias=False)
        self.w2 = nn.Linear(cfg.expert_ffn_hidden, cfg.n_embed, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class GptDenseFFN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embed, cfg.ffn_hidden)
        self.c_proj = nn.Linear(cfg.ffn_hidden, cfg.n_embed)

    def forward(self, x):
        return self.c_proj(F.relu(self.c_fc(x)))


class LlamaDenseFFN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.n_embed, cfg.ffn_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.n_embed, cfg.ffn_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_hidden, cfg.n_embed, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def expert_capacity(cfg, n_tokens):
    """ceil(cf * N * k / E) assignments per expert; 0 means dropless."""
    if cfg.capacity_factor <= 0:
        return 0
    return math.ceil(cfg.capacity_factor * n_tokens * cfg.top_k / cfg.n_experts)


def expert_choice_capacity(n_tokens, n_experts, experts_per_token):
    """Tokens per expert under expert choice: round(N * c / E) half up, within [1, N]."""
    c = (2 * n_tokens * experts_per_token + n_experts) // (2 * n_experts)
    return min(max(c, 1), n_tokens)


def expert_choice_forward(moe, a, tau):
    """Expert-choice routing (Zhou et al. 2022): S = softmax(logits / tau) over experts, each
    expert takes the C tokens of highest S[:, e] (ties: lower token first), gated by S.
    a (N, C). Returns out (N, C), aux, z; moe.dropped = tokens no expert took."""
    cfg = moe.cfg
    n, n_experts = a.shape[0], cfg.n_experts
    logits = moe.gate(a)
    probs = torch.softmax(logits / tau, dim=-1)  # (N, E)
    capacity = expert_choice_capacity(n, n_experts, cfg.top_k)
    taken = torch.zeros(n, dtype=torch.bool)
    out = torch.zeros_like(a)
    for e, expert in enumerate(moe.experts):
        rows = torch.sort(probs[:, e].detach(), descending=True, stable=True).indices[:capacity]
        taken[rows] = True
        y = expert(a.index_select(0, rows)) * probs[rows, e].unsqueeze(-1)
        out = out.index_add(0, rows, y)
    for shared in moe.shared_experts:
        out = out + shared(a)
    moe.dropped = int((~taken).sum())
    # The Switch statistic over every (token, expert) candidate: each expert has N of the N*E,
    # so it is 1 (balanced) by construction; the z-loss is the usual one.
    aux = (probs.mean(0)).sum()
    z = torch.logsumexp(logits, dim=-1).pow(2).mean()
    return out, aux, z


def stable_topk(scores, k):
    """Indices of the k largest scores per row, descending; ties keep the lower index first."""
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, :k]


def scored_gates(cfg, logits, tau, bias):
    """Sigmoid or softmax scores, top-k on scores + bias (selection only), gates = the kept
    unbiased scores renormalised, times routed_scaling_factor (DeepSeek-V3, section 2.1.2)."""
    if cfg.router_score == "sigmoid":
        scores = torch.sigmoid(logits)
    else:
        scores = torch.softmax(logits / tau, dim=-1)
    key = scores.detach() if bias is None else scores.detach() + bias
    topk_idx = stable_topk(key, cfg.top_k)
    kept = scores.gather(-1, topk_idx)
    return topk_idx, kept / kept.sum(-1, keepdim=True) * cfg.routed_scaling_factor


def update_router_bias(moe, gamma):
    """b_e += gamma * sign(mean load - load_e) (Wang et al. 2024, algorithm 1)."""
    load = moe.load.to(torch.float64)
    with torch.no_grad():
        moe.router_bias().add_(gamma * torch.sign(load.mean() - load).to(moe.router_bias().dtype))
    moe.load = None


class MoE(nn.Module):
    """Router + routed experts + shared experts (docs/MODEL.md, "MoE layer")."""

    def __init__(self, cfg, expert_cls):
        super().__init__()
        bias = cfg.arch == "gpt"
        self.cfg = cfg
        self.gate = nn.Linear(cfg.n_embed, cfg.n_experts, bias=bias)
        self.noise = (nn.Linear(cfg.n_embed, cfg.n_experts, bias=bias)
                      if cfg.router == "noisy_topk" else None)
        self.experts = nn.ModuleList(expert_cls(cfg) for _ in range(cfg.n_experts))
        self.shared_experts = nn.ModuleList(
            expert_cls(cfg) for _ in range(cfg.n_shared_experts))
        if cfg.router_bias:
            # Auxiliary-loss-free balancing's selection biases: state, not parameters.
            self.gate.register_buffer("e_score_correction_bias", torch.zeros(cfg.n_experts))
        self.dropped = 0  # assignments dropped by the capacity limit in the last forward
        self.load = None  # (E) assignments per expert in this step's forwards
        self.seq_aux = None  # sequence-wise balance loss of the last forward
        self.fraction = None  # (E) share of the last forward's assignments per expert

    def router_bias(self):
        return self.gate.e_score_correction_bias if self.cfg.router_bias else None

    def forward(self, a, tau, noise_eps, batch=1, step_fraction=None):
        """a (N, C) for `batch` sequences; noise_eps (N, E) standard-normal draws or None (no
        noise); step_fraction (E) the optimizer step's expert fractions (global-batch
        balancing) or None. Returns out (N, C), aux, z; sets self.seq_aux and
        self.fraction."""
        if self.cfg.router == "expert_choice":
            # Balanced by construction: every expert takes C of the E*C assignments.
            self.seq_aux = torch.zeros((), dtype=a.dtype)
            self.fraction = torch.full((self.cfg.n_experts,), 1.0 / self.cfg.n_experts,
                                       dtype=a.dtype)
            return expert_choice_forward(self, a, tau)
        n, k, n_experts = a.shape[0], self.cfg.top_k, self.cfg.n_experts
        logits = self.gate(a)
        if self.cfg.router_score == "sigmoid" or self.cfg.router_bias:
            topk_idx, gates = scored_gates(self.cfg, logits, tau, self.router_bias())
        else:
            sel = logits
            if self.noise is not None and noise_eps is not None:
                sel = logits + noise_eps * F.softplus(self.noise(a))
            s = sel / tau
            topk_idx = stable_topk(s.detach(), k)  # (N, k)
            gates = torch.softmax(s.gather(-1, topk_idx), dim=-1)  # (N, k)

        # Slot n*k + j is token n's j-th choice; slot order is token order, so the capacity
        # limit keeps each expert's earliest tokens (Switch Transformer).
        slot_expert = topk_idx.reshape(-1)
        slot_gate = gates.reshape(-1)
        slot_token = torch.arange(n).repeat_interleave(k)
        slot_kept = torch.ones(n * k, dtype=torch.bool)
        capacity = expert_capacity(self.cfg, n)
        out = torch.zeros_like(a)
        for e, expert in enumerate(self.experts):
            slots = torch.nonzero(slot_expert == e).squeeze(-1)
            if capacity > 0:
                slot_kept[slots[capacity:]] = False
                slots = slots[:capacity]
            rows = slot_token[slots]
            y = expert(a.index_select(0, rows)) * slot_gate[slots].unsqueeze(-1)
            out = out.index_add(0, rows, y)
        for shared in self.shared_experts:
            out = out + shared(a)
        self.dropped = int((~slot_kept).sum())

        # Load-balancing losses on the clean logits, over all N*k assignments (before drops).
        if self.cfg.router_score == "sigmoid":
            scores = torch.sigmoid(logits)
            # Normalised sigmoid scores (DeepSeek-V3, arXiv 2412.19437, eq. 19), for the Switch,
            # global-batch and sequence-wise losses alike; autograd differentiates through the
            # normalisation.
            probs = scores / scores.sum(-1, keepdim=True)
        else:
            probs = torch.softmax(logits / tau, dim=-1)
        counts = torch.bincount(slot_expert, minlength=n_experts)
        self.load = counts if self.load is None else self.load + counts
        fraction = counts.to(a.dtype) / (n * k)
        self.fraction = fraction.detach()
        if step_fraction is not None:
            fraction = step_fraction
        aux = n_experts * (fraction * probs.mean(0)).sum()
        z = torch.logsumexp(logits, dim=-1).pow(2).mean()
        # Computed only when weighted, as moe.cpp does (its statistic is 0 otherwise).
        self.seq_aux = (sequence_aux_loss(probs, topk_idx, batch, n_experts)
                        if self.cfg.seq_aux_loss_coef > 0 else torch.zeros((), dtype=a.dtype))
        return out, aux, z


def sequence_aux_loss(probs, topk_idx, batch, n_experts):
    """DeepSeek-V3's complementary sequence-wise balance loss (arXiv 2412.19437, eq. 17-20)
    before its coefficient: per sequence f_i = E/(K T) * (assignments to i), P_i = mean over
    its tokens of the normalised scores; sum_i f_i P_i, averaged over the sequences."""
    n, k = topk_idx.shape
    t = n // batch
    counts = F.one_hot(topk_idx, n_experts).sum(1).view(batch, t, n_experts).sum(1)
    f = counts.to(probs.dtype) * n_experts / (k * t)
    p = probs.view(batch, t, n_experts).mean(1)
    return (f * p).sum(-1).mean()


class Block(nn.Module):
    """One transformer layer; attribute names follow GPT-2 (gpt) or Mixtral (llama)."""

    def __init__(self, cfg, layer):
        super().__init__()
        self.is_gpt = cfg.arch == "gpt"
        self.is_moe = layer in cfg.moe_layers
        if self.is_gpt:
            self.ln_1 = nn.LayerNorm(cfg.n_embed, eps=cfg.norm_eps)
            self.attn = GptAttention(cfg)
            self.ln_2 = nn.LayerNorm(cfg.n_embed, eps=cfg.norm_eps)
        else:
            self.input_layernorm = RMSNorm(cfg.n_embed, cfg.norm_eps)
            self.self_attn = LlamaAttention(cfg)
            self.post_attention_layernorm = RMSNorm(cfg.n_embed, cfg.norm_eps)
        if self.is_moe:
            self.block_sparse_moe = MoE(cfg, GptExpert if self.is_gpt else LlamaExpert)
        else:
            self.mlp = GptDenseFFN(cfg) if self.is_gpt else LlamaDenseFFN(cfg)

    def forward(self, x, tau, noise_eps, step_fraction=None):
        """x (B, T, C) -> (x, aux, z); aux and z are None for a dense layer."""
        if self.is_gpt:
            attn, norm_1, norm_2 = self.attn, self.ln_1, self.ln_2
        else:
            attn = self.self_attn
            norm_1, norm_2 = self.input_layernorm, self.post_attention_layernorm
        x = x + attn(norm_1(x))
        a = norm_2(x)
        if not self.is_moe:
            return x + self.mlp(a), None, None
        y, aux, z = self.block_sparse_moe(a.reshape(-1, a.shape[-1]), tau, noise_eps,
                                          a.shape[0], step_fraction)
        return x + y.view_as(a), aux, z


class Model(nn.Module):
    """The whole model; parameter names are those of docs/MODEL.md."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c = cfg.n_embed
        blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        if cfg.arch == "gpt":
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(cfg.vocab_size, c),
                "wpe": nn.Embedding(cfg.block_size, c),
                "h": blocks,
                "ln_f": nn.LayerNorm(c, eps=cfg.norm_eps),
            })
            self.lm_head = nn.Linear(c, cfg.vocab_size)
        else:
            self.model = nn.ModuleDict({
                "embed_tokens": nn.Embedding(cfg.vocab_size, c),
                "layers": blocks,
                "norm": RMSNorm(c, cfg.norm_eps),
            })
            self.lm_head = nn.Linear(c, cfg.vocab_size, bias=False)

    def forward(self, tokens, tau, noise_eps, step_fractions=None):
        """tokens (B, T) int64; noise_eps {layer: (B*T, E)} (layers without one get no noise);
        step_fractions {layer: (E)} for global-batch balancing or None.
        Returns logits (B, T, V), sum of aux, sum of z over the MoE layers; sets
        self.seq_aux (the sum of the sequence-wise losses)."""
        if self.cfg.arch == "gpt":
            body = self.transformer
            positions = torch.arange(tokens.shape[1])
            x = body["wte"](tokens) + body["wpe"](positions)
            blocks, final_norm = body["h"], body["ln_f"]
        else:
            body = self.model
            x = body["embed_tokens"](tokens)
            blocks, final_norm = body["layers"], body["norm"]
        aux_sum = torch.zeros((), dtype=x.dtype)
        z_sum = torch.zeros((), dtype=x.dtype)
        self.seq_aux = torch.zeros((), dtype=x.dtype)
        for i, block in enumerate(blocks):
            x, aux, z = block(x, tau, noise_eps.get(i),
                              step_fractions[i] if step_fractions else None)
            if aux is not None:
                aux_sum = aux_sum + aux
                z_sum = z_sum + z
                self.seq_aux = self.seq_aux + block.block_sparse_moe.seq_aux
        return self.lm_head(final_norm(x)), aux_sum, z_sum


def build_model(cfg, weights, dtype):
    """Model in `dtype` holding `weights` ({name: tensor}, exactly the model's parameters)."""
    model = Model(cfg).to(dtype)
    expected = dict(model.named_parameters()) | dict(model.named_buffers())
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise MalformedInput(
            f"model.safetensors does not match the config: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {extra[:8]}"
            f"{' ...' if len(extra) > 8 else ''}")
    for name, param in expected.items():
        if tuple(weights[name].shape) != tuple(param.shape):
            raise MalformedInput(f"model.safetensors: {name} has shape "
                                 f"{tuple(weights[name].shape)}, expected {tuple(param.shape)}")
    model.load_state_dict({name: w.to(dtype) for name, w in weights.items()})
    return model


# ----------------------------------------------------------------------------- training

def objective(model, tokens, targets, tau, noise_eps, step_fractions=None):
    """CE + aux_loss_coef * sum aux + z_loss_coef * sum z + seq_aux_loss_coef * sum seq_aux,
    with its parts."""
    cfg = model.cfg
    logits, aux, z = model(tokens, tau, noise_eps, step_fractions)
    seq_aux = model.seq_aux
    loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1))
    total = loss + cfg.aux_loss_coef * aux + cfg.z_loss_coef * z + cfg.seq_aux_loss_coef * seq_aux
    return {"objective": total, "logits": logits, "loss": loss, "aux_loss": aux, "z_loss": z,
            "seq_aux_loss": seq_aux}


def step_routing_fractions(model, tokens, tau, noise):
    """Global-batch balancing (Qiu et al. 2025, arXiv 2501.11873): {layer: (E)} the expert
    fractions over all micro-batches of one optimizer step (tokens (A, B, T), noise
    [{layer: eps}] per micro-batch), counted before any backward; constants of the gradient."""
    moes = {i: block.block_sparse_moe for i, block in enumerate(_blocks(model)) if block.is_moe}
    totals = {i: 0 for i in moes}
    with torch.no_grad():
        for micro in range(tokens.shape[0]):
            model(tokens[micro], tau, noise[micro])
            for i, moe in moes.items():
                totals[i] = totals[i] + moe.fraction
    return {i: total / tokens.shape[0] for i, total in totals.items()}


def _blocks(model):
    return model.transformer["h"] if model.cfg.arch == "gpt" else model.model["layers"]


def train(model, settings, tokens, targets, noise):
    """Runs settings["steps"] AdamW steps of settings["grad_accum"] (A) micro-batches each;
    tokens, targets (S*A, B, T) int64, noise {micro-batch: {layer: (B*T, E)}} by micro-batch
    index s*A + a. Each micro-batch's objective is weighted 1/A and its gradient accumulated.
    Returns the step-0 outputs (means over its micro-batches, logits of the first) before the
    update, and the mean objective of every step (before its update).

    Every parameter gets a gradient every step (zero for an expert no token reached), so
    AdamW decays and advances the moments of all parameters alike, with one global step count.
    """
    params = dict(model.named_parameters())
    decay = set(settings["decay_params"])
    groups = [
        {"params": [p for n, p in params.items() if n in decay],
         "weight_decay": settings["weight_decay"]},
        {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=settings["lr"][0],
        betas=(settings["beta1"], settings["beta2"]), eps=settings["eps"])
    step0 = None
    trajectory = []
    for step in range(settings["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = settings["lr"][step]
        optimizer.zero_grad(set_to_none=True)
        for moe in model.modules():  # the bias update counts this step's forwards only
            if isinstance(moe, MoE):
                moe.load = None
        accum = settings["grad_accum"]
        micro = range(step * accum, (step + 1) * accum)
        tau = settings["temperature"][step]
        step_fractions = None
        if model.cfg.aux_loss_scope == "global_batch" and accum > 1 and model.cfg.moe_layers:
            step_fractions = step_routing_fractions(
                model, tokens[micro.start:micro.stop], tau, [noise.get(m, {}) for m in micro])
        means = {key: 0.0 for key in ("objective", "loss", "aux_loss", "z_loss", "seq_aux_loss")}
        for m in micro:
            out = objective(model, tokens[m], targets[m], tau, noise.get(m, {}), step_fractions)
            (out["objective"] / accum).backward()
            for key in means:
                means[key] = means[key] + out[key].detach() / accum
            if m == 0:
                logits0 = out["logits"].detach().clone()
        for p in params.values():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if step == 0:
            step0 = {key: means[key].clone().reshape(1)
                     for key in ("loss", "aux_loss", "z_loss", "seq_aux_loss")}
            step0["logits"] = logits0
            step0["grads"] = {n: p.grad.detach().clone() for n, p in params.items()}
        if settings["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params.values(), settings["grad_clip"])
        optimizer.step()
        # Auxiliary-loss-free balancing: outside AdamW, from the loads of this step's micro-batches.
        for moe in model.modules():
            if isinstance(moe, MoE) and moe.router_bias() is not None:
                update_router_bias(moe, settings["router_bias_update"][step])
        trajectory.append(means["objective"])
    return step0, torch.stack(trajectory)


# ----------------------------------------------------------------------------- check

def compare(ours, ref):
    """(error, ok, note): norm-wise relative error, or ours' norm where ref is all zero."""
    if ours.numel() == 1 and ref.numel() == 1:
        ours = ours.reshape(ref.shape)
    if tuple(ours.shape) != tuple(ref.shape):
        return math.inf, False, f"shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    ours = ours.to(torch.float64)
    if not torch.isfinite(ours).all():
        return math.inf, False, "non-finite values"
    ref_norm = float(ref.norm())
    if ref_norm == 0.0:
        err = float(ours.norm())
        return err, err <= ZERO_NORM_TOLERANCE, "abs (ref is zero)"
    err = float((ours - ref).norm()) / ref_norm
    return err, err <= TOLERANCE, ""


def _format(label, err, ok, note):
    status = "ok" if ok else "FAIL"
    extra = f"  [{note}]" if note else ""
    return f"  {label:<12} rel err {err:.3e}  {status}{extra}"


def _load_json(path):
    if not os.path.isfile(path):
        raise MalformedInput(f"missing file {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise MalformedInput(f"{path}: bad JSON ({err})") from err


def _load_settings(path, param_names):
    raw = _load_json(path)
    missing = [key for key in TRAIN_KEYS if key not in raw]
    if missing:
        raise MalformedInput(f"train.json: missing keys {missing}")
    steps = int(raw["steps"])
    if steps < 1:
        raise MalformedInput("train.json: steps must be >= 1")
    for key in ("lr", "temperature"):
        if not isinstance(raw[key], list) or len(raw[key]) != steps:
            raise MalformedInput(f"train.json: {key} must be a list of {steps} numbers")
    unknown = sorted(set(raw["decay_params"]) - set(param_names))
    if unknown:
        raise MalformedInput(f"train.json: decay_params names unknown parameters {unknown}")
    settings = {key: float(raw[key]) for key in ("beta1", "beta2", "eps", "weight_decay",
                                                  "grad_clip")}
    gammas = raw.get("router_bias_update", [0.0] * steps)
    if not isinstance(gammas, list) or len(gammas) != steps:
        raise MalformedInput(f"train.json: router_bias_update must be a list of {steps} numbers")
    grad_accum = int(raw.get("grad_accum", 1))
    if grad_accum < 1:
        raise MalformedInput("train.json: grad_accum must be >= 1")
    settings.update(steps=steps, grad_accum=grad_accum, lr=[float(x) for x in raw["lr"]],
                    router_bias_update=[float(x) for x in gammas],
                    temperature=[float(x) for x in raw["temperature"]],
                    decay_params=list(raw["decay_params"]))
    return settings


def _require(case, name):
    if name not in case:
        raise MalformedInput(f"case.safetensors: missing tensor {name}")
    return case[name]


def _load_batches(case, cfg, micro_batches, dtype):
    tokens = _require(case, "tokens")
    targets = _require(case, "targets")
    if tokens.dim() != 3 or tuple(targets.shape) != tuple(tokens.shape):
        raise MalformedInput(f"case.safetensors: tokens {tuple(tokens.shape)} and targets "
                             f"{tuple(targets.shape)} must both be (S, B, T)")
    if tokens.shape[0] != micro_batches:
        raise MalformedInput(f"case.safetensors: {tokens.shape[0]} batches for "
                             f"{micro_batches} micro-batches (steps x grad_accum)")
    if tokens.shape[2] > cfg.block_size:
        raise MalformedInput(f"case.safetensors: T = {tokens.shape[2]} > block_size")
    for name, t in (("tokens", tokens), ("targets", targets)):
        if t.min() < 0 or t.max() >= cfg.vocab_size:
            raise MalformedInput(f"case.safetensors: {name} outside [0, vocab_size)")
    n_tokens = tokens.shape[1] * tokens.shape[2]
    noise = {}
    if cfg.router == "noisy_topk":
        for step in range(micro_batches):
            noise[step] = {}
            for layer in cfg.moe_layers:
                eps = _require(case, f"noise_eps.{step}.{layer}")
                if tuple(eps.shape) != (n_tokens, cfg.n_experts):
                    raise MalformedInput(f"case.safetensors: noise_eps.{step}.{layer} has shape "
                                         f"{tuple(eps.shape)}, expected "
                                         f"({n_tokens}, {cfg.n_experts})")
                noise[step][layer] = eps.to(dtype)
    return tokens.long(), targets.long(), noise


def run_check(directory):
    """Compares DIR's outputs with the float64 reference; returns the exit status.

    case.safetensors must hold tokens and targets I32 (S*A, B, T) for S steps of A micro-batches
    (train.json's grad_accum, 1 when absent); for the noisy router noise_eps.{m}.{i} (B*T, E)
    per micro-batch m; and the outputs under test: logits (B, T, V) of the first micro-batch,
    loss (1,), aux_loss (1,), z_loss (1,), optionally seq_aux_loss (1,) (means over step 0's
    micro-batches) and grad.{name} after step 0, and trajectory (S,).
    """
    cfg = ModelConfig(_load_json(os.path.join(directory, "config.json")))
    weights = read_safetensors(os.path.join(directory, "model.safetensors"))
    case = read_safetensors(os.path.join(directory, "case.safetensors"))
    model = build_model(cfg, weights, torch.float64)
    param_names = [name for name, _ in model.named_parameters()]
    settings = _load_settings(os.path.join(directory, "train.json"), param_names)
    tokens, targets, noise = _load_batches(case, cfg, settings["steps"] * settings["grad_accum"],
                                           torch.float64)
    # seq_aux_loss is optional so that directories written before it still check.
    keys = ["logits", "loss", "aux_loss", "z_loss"] + (["seq_aux_loss"]
                                                       if "seq_aux_loss" in case else [])
    outputs = {key: _require(case, key) for key in keys + ["trajectory"]}

    ref, trajectory = train(model, settings, tokens, targets, noise)
    failures = []
    print(f"reference check: {directory} ({cfg.arch}, router {cfg.router}, "
          f"{len(cfg.moe_layers)}/{cfg.n_layers} MoE layers, {settings['steps']} steps of "
          f"{settings['grad_accum']} micro-batches, aux scope {cfg.aux_loss_scope})")
    for key in keys:
        err, ok, note = compare(outputs[key], ref[key])
        print(_format(key, err, ok, note))
        if not ok:
            failures.append(key)

    grad_names = {name[len("grad."):] for name in case if name.startswith("grad.")}
    missing = sorted(set(param_names) - grad_names)
    extra = sorted(grad_names - set(param_names))
    results = sorted(((name, *compare(case["grad." + name], ref["grads"][name]))
                      for name in param_names if name in grad_names),
                     key=lambda r: -r[1])
    for name, err, ok, note in results[:WORST_GRADS_SHOWN]:
        print(_format("grad", err, ok, f"{name}{', ' + note if note else ''}"))
    bad = [name for name, _, ok, _ in results if not ok]
    print(f"  grads        {len(results)} compared, {len(bad)} over tolerance, "
          f"{len(missing)} missing, {len(extra)} unexpected")
    if missing:
        print(f"  missing grads: {missing}")
    if extra:
        print(f"  unexpected grads: {extra}")
    if bad or missing or extra:
        failures.append(f"grad: {len(bad)} over tolerance, {len(missing)} missing, "
                        f"{len(extra)} unexpected")

    err, ok, note = compare(outputs["trajectory"], trajectory)
    print(_format("trajectory", err, ok, note))
    if not ok:
        failures.append("trajectory")
    # The selection biases after the trajectory (auxiliary-loss-free balancing).
    for name, bias in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            err, ok, note = compare(_require(case, "router_bias." + name), bias)
            print(_format("router bias", err, ok, f"{name}{', ' + note if note else ''}"))
            if not ok:
                failures.append(f"router bias {name}")

    if failures:
        print(f"reference check: FAIL ({'; '.join(failures)})")
        return 1
    print("reference check: PASS")
    return 0


def check_main(directory):
    try:
        return run_check(directory)
    except MalformedInput as err:
        print(f"moe_reference.py: malformed input: {err}", file=sys.stderr)
        return 2


# ----------------------------------------------------------------------------- Hugging Face

HF_ARCHS = {"MixtralForCausalLM": "mixtral", "LlamaForCausalLM": "llama"}


def hf_model_config(raw):
    """The reference's ModelConfig from a Hugging Face config.json (MixtralConfig / LlamaConfig
    field names), with no moe.cpp setting involved."""
    archs = raw.get("architectures") or []
    if len(archs) != 1 or archs[0] not in HF_ARCHS:
        raise MalformedInput(f"config.json: architectures {archs!r} is not Mixtral or Llama")
    moe = archs[0] == "MixtralForCausalLM"
    if raw.get("hidden_act", "silu") != "silu" or raw.get("rope_scaling") is not None:
        raise MalformedInput("config.json: only silu and unscaled RoPE are mirrored")
    if raw.get("tie_word_embeddings", False):
        raise MalformedInput("config.json: tied embeddings are not mirrored")
    heads = int(raw["num_attention_heads"])
    if int(raw.get("head_dim") or raw["hidden_size"] // heads) * heads != raw["hidden_size"]:
        raise MalformedInput("config.json: head_dim must be hidden_size / num_attention_heads")
    layers = int(raw["num_hidden_layers"])
    return ModelConfig({
        "arch": "llama", "router": "topk",
        "vocab_size": raw["vocab_size"], "block_size": raw["max_position_embeddings"],
        "n_embed": raw["hidden_size"], "n_layers": layers, "n_heads": heads,
        "n_kv_heads": raw.get("num_key_value_heads") or heads,
        "ffn_hidden": raw["intermediate_size"],
        "n_experts": raw["num_local_experts"] if moe else 1,
        "top_k": raw["num_experts_per_tok"] if moe else 1,
        "moe_layers": list(range(layers)) if moe else [],
        "n_shared_experts": 0, "capacity_factor": 0.0,
        "aux_loss_coef": raw.get("router_aux_loss_coef", 0.0) if moe else 0.0, "z_loss_coef": 0.0,
        "norm_eps": raw["rms_norm_eps"], "rope_theta": raw.get("rope_theta", 10000.0),
        "dropout": 0.0,
    })


def read_hf_weights(directory):
    """{name: tensor} of model.safetensors, or of the shards model.safetensors.index.json
    names (every tensor in the shard its weight_map gives)."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.isfile(index_path):
        return read_safetensors(os.path.join(directory, "model.safetensors"))
    weight_map = _load_json(index_path)["weight_map"]
    weights = {}
    for shard in sorted(set(weight_map.values())):
        for name, tensor in read_safetensors(os.path.join(directory, shard)).items():
            if weight_map.get(name) != shard:
                raise MalformedInput(f"{shard} holds {name}, which the index puts elsewhere")
            weights[name] = tensor
    if set(weights) != set(weight_map):
        raise MalformedInput("the shards do not hold every tensor of the index")
    return weights


def hf_check(directory, logits_path):
    """Compares the logits of LOGITS_PATH with the Hugging Face folder's model in float64."""
    cfg = hf_model_config(_load_json(os.path.join(directory, "config.json")))
    weights = {n: w.to(torch.float32) for n, w in read_hf_weights(directory).items()}
    model = build_model(cfg, weights, torch.float64)
    case = read_safetensors(logits_path)
    tokens = _require(case, "tokens").long()
    with torch.no_grad():
        logits, _, _ = model(tokens, 1.0, {})
    err, ok, note = compare(_require(case, "logits"), logits)
    print(f"hf check: {directory} ({len(cfg.moe_layers)}/{cfg.n_layers} MoE layers, "
          f"tokens {tuple(tokens.shape)})")
    print(_format("logits", err, ok, note))
    print(f"hf check: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def hf_write(directory, arch, dtype_name, tokenizer_dir, ids_path):
    """Writes a small random Mixtral or Llama in Hugging Face's layout; returns its float64 mean
    loss on the contiguous windows of the ids."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    with open(os.path.join(tokenizer_dir, "encoder.json"), encoding="utf-8") as f:
        vocab_size = len(json.load(f))
    raw = {
        "architectures": ["MixtralForCausalLM" if arch == "mixtral" else "LlamaForCausalLM"],
        "model_type": arch, "vocab_size": vocab_size + 3, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 24,
        "rms_norm_eps": 1e-5, "rope_theta": 5000.0, "tie_word_embeddings": False,
        "torch_dtype": {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[dtype_name],
    }
    if arch == "mixtral":
        raw.update(num_local_experts=4, num_experts_per_tok=2, router_aux_loss_coef=0.02,
                   sliding_window=None)
    cfg = hf_model_config(raw)
    generator = torch.Generator().manual_seed(7)
    weights = {n: w.to(dtype) for n, w in _random_weights(Model(cfg), generator).items()}
    os.makedirs(directory)
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=2)
    write_safetensors(os.path.join(directory, "model.safetensors"), weights, {"format": "pt"})
    shutil.copyfile(os.path.join(tokenizer_dir, "encoder.json"),
                    os.path.join(directory, "vocab.json"))
    shutil.copyfile(os.path.join(tokenizer_dir, "vocab.bpe"), os.path.join(directory, "merges.txt"))

    model = build_model(cfg, {n: w.to(torch.float32) for n, w in weights.items()}, torch.float64)
    with open(ids_path, encoding="utf-8") as f:
        ids = torch.tensor([int(line) for line in f if line.strip()])
    t = cfg.block_size
    windows = (len(ids) - 1) // t
    if windows < 1:
        raise MalformedInput(f"{ids_path}: fewer than {t + 1} ids")
    tokens = ids[:windows * t].view(windows, t)
    targets = ids[1:windows * t + 1].view(windows, t)
    with torch.no_grad():
        logits, _, _ = model(tokens, 1.0, {})
    return float(F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1)))


# ----------------------------------------------------------------------------- selftest

def naive_moe(moe, a, tau, noise_eps):
    """The MoE layer token by token with Python loops: (out (N, C), aux, z)."""
    cfg = moe.cfg
    n, k, n_experts = a.shape[0], cfg.top_k, cfg.n_experts
    capacity = expert_capacity(cfg, n)
    load = [0] * n_experts  # kept assignments so far, in token order
    counts = [0] * n_experts  # all assignments
    prob_sum = torch.zeros(n_experts, dtype=a.dtype)
    z = 0.0
    out = torch.zeros_like(a)
    for t in range(n):
        x = a[t:t + 1]
        logits = moe.gate(x)[0]
        sel = logits
        if moe.noise is not None and noise_eps is not None:
            sel = logits + noise_eps[t] * F.softplus(moe.noise(x)[0])
        s = [float(v) / tau for v in sel]
        chosen = sorted(range(n_experts), key=lambda e: (-s[e], e))[:k]
        top = max(s[e] for e in chosen)
        weights = [math.exp(s[e] - top) for e in chosen]
        for e, w in zip(chosen, weights):
            counts[e] += 1
            if capacity > 0 and load[e] >= capacity:
                continue
            load[e] += 1
            out[t] += w / sum(weights) * moe.experts[e](x)[0]
        for shared in moe.shared_experts:
            out[t] += shared(x)[0]
        prob_sum += torch.softmax(logits / tau, dim=-1)
        z += float(torch.logsumexp(logits, dim=-1)) ** 2
    aux = n_experts * sum(counts[e] / (n * k) * float(prob_sum[e]) / n
                          for e in range(n_experts))
    return out, aux, z / n


def assert_moe_matches_naive(model, tau, generator):
    """Every MoE layer of a float64 model against `naive_moe` on random inputs."""
    cfg = model.cfg
    blocks = model.transformer["h"] if cfg.arch == "gpt" else model.model["layers"]
    for i in cfg.moe_layers:
        moe = blocks[i].block_sparse_moe
        n = 24
        a = torch.randn(n, cfg.n_embed, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, cfg.n_experts, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            out, aux, z = moe(a, tau, eps)
            ref_out, ref_aux, ref_z = naive_moe(moe, a, tau, eps)
        assert torch.allclose(out, ref_out, rtol=1e-12, atol=1e-12), \
            f"layer {i}: MoE output differs from the per-token loop"
        assert math.isclose(float(aux), ref_aux, rel_tol=1e-12), f"layer {i}: aux differs"
        assert math.isclose(float(z), ref_z, rel_tol=1e-12), f"layer {i}: z differs"


SELFTEST_CASES = [
    dict(arch="gpt", router="topk", moe_layers=[1], n_shared_experts=0, capacity_factor=0.0,
         top_k=2, n_kv_heads=4, grad_clip=0.0),
    dict(arch="gpt", router="noisy_topk", moe_layers=[0, 1], n_shared_experts=1,
         capacity_factor=1.0, top_k=2, n_kv_heads=4, grad_clip=1.0),
    dict(arch="gpt", router="temperature", moe_layers=[0, 1], n_shared_experts=0,
         capacity_factor=1.25, top_k=1, n_kv_heads=4, grad_clip=0.0),
    dict(arch="gpt", router="topk", moe_layers=[], n_shared_experts=0, capacity_factor=0.0,
         top_k=2, n_kv_heads=4, grad_clip=0.0),
    dict(arch="llama", router="topk", moe_layers=[0, 1], n_shared_experts=1,
         capacity_factor=0.0, top_k=2, n_kv_heads=2, grad_clip=0.5),
    dict(arch="llama", router="noisy_topk", moe_layers=[1], n_shared_experts=0,
         capacity_factor=1.0, top_k=2, n_kv_heads=1, grad_clip=0.0),
    dict(arch="llama", router="temperature", moe_layers=[0, 1], n_shared_experts=2,
         capacity_factor=0.0, top_k=3, n_kv_heads=4, grad_clip=0.0),
]


def _random_weights(model, generator):
    """Decisive routing and non-trivial norms and biases, so every gradient path matters."""

    def randn(shape, scale=1.0):
        return scale * torch.randn(shape, generator=generator)

    weights = {}
    for prefix, module in model.named_modules():
        prefix = prefix + "." if prefix else ""
        if isinstance(module, (nn.LayerNorm, RMSNorm)):
            weights[prefix + "weight"] = 1.0 + randn(module.weight.shape, 0.1)
            if isinstance(module, nn.LayerNorm):
                weights[prefix + "bias"] = randn(module.bias.shape, 0.1)
        elif isinstance(module, nn.Embedding):
            weights[prefix + "weight"] = randn(module.weight.shape)
        elif isinstance(module, nn.Linear):
            weights[prefix + "weight"] = randn(module.weight.shape,
                                               1.0 / math.sqrt(module.in_features))
            if module.bias is not None:
                weights[prefix + "bias"] = randn(module.bias.shape, 0.1)
    return {name: w.to(torch.float32) for name, w in weights.items()}


def write_selftest_dir(directory, spec, seed):
    """Writes a check directory whose outputs come from this model in float32.
    Returns the number of assignments the capacity limit dropped at step 0."""
    generator = torch.Generator().manual_seed(seed)
    raw = dict(vocab_size=19, block_size=12, n_embed=16, n_layers=2, n_heads=4,
               ffn_hidden=24, n_experts=4, aux_loss_coef=0.01, z_loss_coef=0.001,
               norm_eps=1e-5, rope_theta=10000.0, dropout=0.0, comment="ignored key")
    raw.update({k: v for k, v in spec.items() if k != "grad_clip"})
    cfg = ModelConfig(raw)
    steps, batch, seq = 4, 2, 10
    weights = _random_weights(Model(cfg), generator)
    tokens = torch.randint(cfg.vocab_size, (steps, batch, seq), generator=generator)
    targets = torch.randint(cfg.vocab_size, (steps, batch, seq), generator=generator)
    case = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    noise = {}
    if cfg.router == "noisy_topk":
        for step in range(steps):
            noise[step] = {}
            for layer in cfg.moe_layers:
                eps = torch.randn(batch * seq, cfg.n_experts, generator=generator)
                case[f"noise_eps.{step}.{layer}"] = eps
                noise[step][layer] = eps
    temperature = ([2.0 - 1.5 * s / (steps - 1) for s in range(steps)]
                   if cfg.router == "temperature" else [1.0] * steps)
    model32 = build_model(cfg, weights, torch.float32)
    settings = {
        "steps": steps, "grad_accum": 1, "lr": [1e-2 * (1 - 0.2 * s) for s in range(steps)],
        "temperature": temperature, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
        "weight_decay": 0.1, "grad_clip": spec["grad_clip"],
        "decay_params": [n for n, p in model32.named_parameters() if p.dim() == 2],
    }
    assert_moe_matches_naive(build_model(cfg, weights, torch.float64), temperature[0],
                             generator)

    step0, trajectory = train(model32, settings, tokens.long(), targets.long(), noise)
    dropped = sum(m.dropped for m in model32.modules() if isinstance(m, MoE))
    case.update({key: step0[key] for key in ("logits", "loss", "aux_loss", "z_loss")})
    case.update({"grad." + name: g for name, g in step0["grads"].items()})
    case["trajectory"] = trajectory
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=1)
    with open(os.path.join(directory, "train.json"), "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=1)
    write_safetensors(os.path.join(directory, "model.safetensors"), weights,
                      {"format": "pt"})
    write_safetensors(os.path.join(directory, "case.safetensors"), case)
    return dropped


def _quiet_check(directory):
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        status = check_main(directory)
    return status, sink.getvalue()


def _expect_failure(directory, name, edit, want_status):
    """Applies edit(case tensors) to a copy of `directory` and expects `want_status`."""
    broken = directory + "-" + name
    shutil.copytree(directory, broken)
    path = os.path.join(broken, "case.safetensors")
    case = read_safetensors(path)
    edit(case, broken)
    write_safetensors(path, case)
    status, log = _quiet_check(broken)
    print(f"  negative test {name}: exit {status} (want {want_status}): "
          f"{log.strip().splitlines()[-1]}")
    return status == want_status


def selftest():
    failures = []
    dropped_total = 0
    with tempfile.TemporaryDirectory(prefix="moe_reference_selftest_") as root:
        for index, spec in enumerate(SELFTEST_CASES):
            directory = os.path.join(root, f"case{index}")
            os.makedirs(directory)
            dropped = write_selftest_dir(directory, spec, seed=100 + index)
            dropped_total += dropped
            print(f"selftest case {index}: {spec} (step 0 dropped {dropped} assignments)")
            if check_main(directory) != 0:
                failures.append(f"case {index}")

        # The check must be able to fail: small corruptions of a passing directory.
        base = os.path.join(root, "case1")
        grad_name = "grad.transformer.h.0.block_sparse_moe.experts.1.w1.weight"

        def scale_grad(case, _):
            case[grad_name] = case[grad_name] * (1 + 1e-3)

        def drop_grad(case, _):
            del case[grad_name]

        def extra_grad(case, _):
            case["grad.transformer.h.0.unknown"] = torch.zeros(3)

        def shift_trajectory(case, _):
            case["trajectory"] = case["trajectory"] + 1e-3 * case["trajectory"].abs().max()

        def drop_noise(case, _):
            del case["noise_eps.2.1"]

        def drop_train(_, directory):
            os.remove(os.path.join(directory, "train.json"))

        negatives = [("scaled-grad", scale_grad, 1), ("missing-grad", drop_grad, 1),
                     ("extra-grad", extra_grad, 1), ("trajectory", shift_trajectory, 1),
                     ("missing-noise", drop_noise, 2), ("missing-train", drop_train, 2)]
        for name, edit, want in negatives:
            if not _expect_failure(base, name, edit, want):
                failures.append(f"negative test {name}")
    if dropped_total == 0:
        failures.append("no case dropped an assignment at capacity")
    if failures:
        print(f"selftest: FAIL ({', '.join(failures)})")
        return 1
    print("selftest: PASS")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="compare a directory written by the C++ side")
    check.add_argument("dir")
    sub.add_parser("selftest", help="validate the checker on this model's own outputs")
    hfc = sub.add_parser("hf-check", help="compare logits with a Hugging Face folder's model")
    hfc.add_argument("dir")
    hfc.add_argument("logits")
    hfw = sub.add_parser("hf-write", help="write a random model as a Hugging Face folder")
    hfw.add_argument("dir")
    hfw.add_argument("--arch", choices=["mixtral", "llama"], required=True)
    hfw.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], required=True)
    hfw.add_argument("--tokenizer", required=True)
    hfw.add_argument("--tokens", required=True)
    args = parser.parse_args()
    try:
        if args.command == "hf-check":
            return hf_check(args.dir, args.logits)
        if args.command == "hf-write":
            loss = hf_write(args.dir, args.arch, args.dtype, args.tokenizer, args.tokens)
            print(json.dumps({"loss": loss}))
            return 0
    except MalformedInput as err:
        print(f"moe_reference.py: malformed input: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        return check_main(args.dir)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
