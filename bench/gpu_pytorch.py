#!/usr/bin/python3
"""PyTorch peers for moe.cpp's GPU training benchmark (bench/gpu_vs_pytorch.py), on CUDA.

Builds the model of a moe.cpp run from its resolved config (`--config` takes the "config" object
of a metrics.jsonl start record): GPT-style (learned positions, LayerNorm, noisy top-k router,
ReLU experts with biases, dropout) or Llama-style (RoPE, RMSNorm, grouped-query attention, top-k
router, SwiGLU experts; the attention and RMSNorm of bench/llama_pytorch.py), causal attention
through F.scaled_dot_product_attention, Switch load-balancing loss, fused AdamW, clipping by
global norm. The MoE layer runs one of two ways
(`--moe`):
  grouped  the token-expert assignments sorted by expert (a stable argsort), gathered, every
           projection one torch._grouped_mm over all experts, combined with index_add_ weighted
           by the gates; the model compiled with torch.compile. `--dtype bf16` casts the
           grouped_mm operands to bf16 (fp32 output), for a torch whose grouped_mm takes no fp32;
           everything else is fp32, as moe.cpp;
  loop     the tutorials' loop (makeMoE): for each expert, the mask of the tokens whose top k
           include it, that expert's MLP on those rows, added back weighted by its gate; eager.
Tokens are uniform random ids on the GPU (the rate does not depend on the text). Steps run until
`--steps` or `--seconds` is reached; the first `--warmup` steps (compilation, allocator warm-up)
are not timed; each timed step is measured with CUDA events.

Prints one JSON line: {"impl", "moe", "dtype", "params", "steps_timed", "step_ms" (median),
"tokens_per_s", "peak_memory_mib" (torch.cuda.max_memory_allocated), "warmup_s"}, or
{"impl", "moe", "dtype", "skipped": reason} when this torch or GPU cannot run the variant.

usage: bench/gpu_pytorch.py --config CONFIG.json --moe grouped|loop [--dtype fp32|bf16]
                            [--steps 30] [--seconds 60] [--warmup 3]
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from llama_pytorch import Attention as LlamaAttention, RMSNorm


class GptAttention(nn.Module):
    """GPT-style causal attention: learned positions elsewhere, biases, dropout. The Llama-style
    one (RoPE, grouped-query, no biases) is llama_pytorch.Attention."""

    def __init__(self, m):
        super().__init__()
        c, self.heads = m["n_embed"], m["n_heads"]
        self.qkv = nn.Linear(c, 3 * c)
        self.o = nn.Linear(c, c)
        self.dropout = m["dropout"]

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # (B, H, T, D)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return F.dropout(self.o(y.transpose(1, 2).reshape(b, t, c)), self.dropout, self.training)


class MoE(nn.Module):
    """Router and experts stacked per projection in nn.Linear's (out, in) layout: w_in (E, F, C),
    w_up (E, F, C) for SwiGLU, w_out (E, C, F), biases (E, F) and (E, C) for the GPT-style ReLU
    experts. torch._grouped_mm takes them transposed, (E, in, out) column-major, as torchtitan's
    GroupedExperts passes them."""

    def __init__(self, m, gpt, grouped, mm_dtype):
        super().__init__()
        self.mm_dtype = mm_dtype
        c, e = m["n_embed"], m["n_experts"]
        f = m.get("expert_hidden") or m["ffn_hidden"]
        self.k, self.e, self.gpt, self.grouped = m["top_k"], e, gpt, grouped
        self.noisy = m["router"] == "noisy_topk"
        self.router = nn.Linear(c, e, bias=gpt)
        self.noise = nn.Linear(c, e, bias=gpt) if self.noisy else None
        self.w_in = nn.Parameter(torch.randn(e, f, c) * 0.02)
        self.w_up = None if gpt else nn.Parameter(torch.randn(e, f, c) * 0.02)
        self.w_out = nn.Parameter(torch.randn(e, c, f) * 0.02)
        self.b_in = nn.Parameter(torch.zeros(e, f)) if gpt else None
        self.b_out = nn.Parameter(torch.zeros(e, c)) if gpt else None
        self.dropout = m["dropout"]

    def hidden(self, h_in, h_up):
        return F.relu(h_in) if self.gpt else F.silu(h_in) * h_up

    def experts_grouped(self, xs, offs, expert):
        """xs (M, C) rows sorted by expert, offs (E) int32 end of each expert's rows."""
        def mm(a, w):
            return torch._grouped_mm(a.to(self.mm_dtype), w.to(self.mm_dtype).transpose(-2, -1),
                                     offs=offs, out_dtype=torch.float32)

        h = mm(xs, self.w_in)  # (M, F)
        if self.gpt:
            h = h + self.b_in[expert]
        up = None if self.gpt else mm(xs, self.w_up)
        y = mm(self.hidden(h, up), self.w_out)  # (M, C)
        return y + self.b_out[expert] if self.gpt else y

    def expert(self, x, e):
        h = F.linear(x, self.w_in[e], self.b_in[e] if self.gpt else None)
        up = None if self.gpt else F.linear(x, self.w_up[e])
        return F.linear(self.hidden(h, up), self.w_out[e], self.b_out[e] if self.gpt else None)

    def forward(self, a):
        x = a.reshape(-1, a.shape[-1])  # (N, C)
        n = x.shape[0]
        logits = self.router(x)  # (N, E)
        scores = logits
        if self.noisy:  # Shazeer et al. 2017
            scores = logits + torch.randn_like(logits) * F.softplus(self.noise(x))
        top, idx = scores.topk(self.k, dim=-1)  # (N, k)
        gates = torch.softmax(top, dim=-1)  # (N, k)
        if self.grouped:
            flat = idx.reshape(-1)  # (N*k)
            order = torch.argsort(flat, stable=True)
            token = order // self.k  # (N*k) token of each sorted slot
            # Counts by comparison, not bincount, whose output size depends on the data (a graph
            # break under torch.compile).
            counts = (flat.unsqueeze(1) == torch.arange(self.e, device=x.device)).sum(0)  # (E)
            offs = torch.cumsum(counts, 0).to(torch.int32)
            ys = self.experts_grouped(x.index_select(0, token), offs, flat[order])
            ys = ys * gates.reshape(-1)[order].unsqueeze(-1)
            out = torch.zeros_like(x).index_add_(0, token, ys)
        else:
            out = torch.zeros_like(x)
            for e in range(self.e):
                mask = (idx == e)  # (N, k)
                rows = mask.any(-1)  # (N)
                if rows.any():
                    g = (gates * mask).sum(-1)[rows]  # (n_e)
                    out[rows] += self.expert(x[rows], e) * g.unsqueeze(-1)
        # Switch Transformer (Fedus et al. 2021): E * sum_e f_e * P_e.
        onehot = idx.reshape(-1, 1) == torch.arange(self.e, device=x.device)  # (N*k, E)
        fraction = onehot.sum(0).to(x.dtype) / (n * self.k)
        aux = self.e * (fraction * torch.softmax(logits, dim=-1).mean(0)).sum()
        out = F.dropout(out, self.dropout, self.training)
        return out.view_as(a), aux


class Model(nn.Module):
    def __init__(self, m, grouped, mm_dtype):
        super().__init__()
        self.m, gpt = m, m["arch"] == "gpt"
        c = m["n_embed"]
        self.wte = nn.Embedding(m["vocab_size"], c)
        self.wpe = nn.Embedding(m["block_size"], c) if gpt else None
        norm = (lambda: nn.LayerNorm(c, eps=m["norm_eps"])) if gpt else \
            (lambda: RMSNorm(c, m["norm_eps"]))
        self.norms = nn.ModuleList(norm() for _ in range(2 * m["n_layers"] + 1))
        # n_kv_heads 0 means one per head (src/config/config.h).
        llama = {**m, "n_kv_heads": m.get("n_kv_heads") or m["n_heads"]}
        self.attn = nn.ModuleList(GptAttention(m) if gpt else LlamaAttention(llama)
                                  for _ in range(m["n_layers"]))
        self.moe = nn.ModuleList(MoE(m, gpt, grouped, mm_dtype) for _ in range(m["n_layers"]))
        self.lm_head = nn.Linear(c, m["vocab_size"], bias=False)

    def forward(self, tokens, targets):
        x = self.wte(tokens)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        aux = 0.0
        for i, (attn, moe) in enumerate(zip(self.attn, self.moe)):
            x = x + attn(self.norms[2 * i](x))
            y, a = moe(self.norms[2 * i + 1](x))
            x, aux = x + y, aux + a
        logits = self.lm_head(self.norms[-1](x))
        ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
        return ce + self.m["aux_loss_coef"] * aux


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--moe", choices=["grouped", "loop"], required=True)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    m, t = config["model"], config["train"]
    impl = {"grouped": "pytorch-grouped_mm-compiled", "loop": "pytorch-expert-loop"}[args.moe]
    head = {"impl": impl, "moe": args.moe, "dtype": args.dtype}

    def skip(reason):
        print(json.dumps({**head, "skipped": reason}), flush=True)
        sys.exit(0)

    if not torch.cuda.is_available():
        skip(f"no CUDA device for torch {torch.__version__}")
    if args.moe == "grouped" and not hasattr(torch, "_grouped_mm"):
        skip(f"torch {torch.__version__} has no torch._grouped_mm")
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = Model(m, args.moe == "grouped",
                  torch.bfloat16 if args.dtype == "bf16" else torch.float32).to(dev)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]},
                             {"params": other, "weight_decay": 0.0}],
                            lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["adam_eps"],
                            fused=True)
    forward = torch.compile(model) if args.moe == "grouped" else model
    b, block, vocab = t["batch_size"], m["block_size"], m["vocab_size"]
    times = []
    start = time.perf_counter()
    warmup_s = None
    torch.cuda.reset_peak_memory_stats()
    for i in range(args.steps):
        tokens = torch.randint(vocab, (b, block + 1), device=dev)
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        try:
            forward(tokens[:, :-1], tokens[:, 1:]).backward()
        except Exception as e:  # an unsupported dtype or kernel of this torch and GPU
            if i == 0:
                skip(f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
            raise
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        end.record()
        end.synchronize()
        if i >= args.warmup:
            times.append(begin.elapsed_time(end))
        elif i == args.warmup - 1:
            warmup_s = time.perf_counter() - start
        if time.perf_counter() - start > args.seconds and times:
            break
    if not times:
        skip(f"no timed step within {args.seconds:.0f} s (warm-up {args.warmup} steps)")
    step_ms = statistics.median(times)
    print(json.dumps({**head, "params": params, "steps_timed": len(times),
                      "step_ms": step_ms, "tokens_per_s": b * block / (step_ms / 1e3),
                      "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20,
                      "warmup_s": warmup_s}), flush=True)


if __name__ == "__main__":
    main()
