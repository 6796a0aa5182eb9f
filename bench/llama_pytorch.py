#!/usr/bin/python3
"""PyTorch peer for the Llama-style benchmark, written the efficient way.

The model of docs/MODEL.md ("Llama-style"): RMSNorm, RoPE ("rotate half"), grouped-query
attention through torch's scaled_dot_product_attention (causal), and a SwiGLU MoE whose
token-expert assignments are sorted by expert (argsort of the flattened top-k ids), gathered with
index_select, run as one matmul per projection and expert on that expert's contiguous rows, and
combined with index_add_ weighted by the gates; Switch load-balancing loss (and z loss when its
coefficient is set). Each projection's expert weights are one stacked tensor, as in moe.cpp.
AdamW is fused where this torch has it on CPU, else foreach; gradient clipping by global norm.

It trains the configuration moe.cpp resolved (`--config` takes the "config" object of a
metrics.jsonl start record, so both sides use the same settings, defaults included) on the same
character-level text with the same split, learning-rate schedule (lr_at in
src/train/lr_schedule.cpp), initialisation ("normal") and weight-decay groups (matrices decay,
norm weights do not). Batches are random windows, as moe.cpp's `random` sampling, drawn by torch.

Prints the parameter counts, "step N: train loss X, val loss Y" after every evaluation, and
finally one JSON line: {"impl", "params", "active_params", "steps", "tokens_per_s", "seconds",
"attention", "adamw", "train_loss", "val_loss"}; tokens_per_s is over the timed steps
(training_bench.timed_steps).

usage: bench/llama_pytorch.py --config CONFIG.json --data input.txt [--threads T]
       bench/llama_pytorch.py --check-reference    # fp64 forward/backward vs the PyTorch mirror
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from training_bench import fail, timed_steps


def causal_attention_fn():
    """torch's causal attention kernel: F.scaled_dot_product_attention (torch >= 2.0) or, in
    torch 1.13, its preview torch._C._nn._scaled_dot_product_attention."""
    if hasattr(F, "scaled_dot_product_attention"):
        return "F.scaled_dot_product_attention", \
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return "torch._C._nn._scaled_dot_product_attention", \
        lambda q, k, v: torch._C._nn._scaled_dot_product_attention(q, k, v, None, 0.0, False,
                                                                   True)[0]


ATTENTION_NAME, causal_attention = causal_attention_fn()


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight (Zhang, Sennrich 2019)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, m):
        super().__init__()
        c, self.n_heads, self.n_kv_heads = m["n_embed"], m["n_heads"], m["n_kv_heads"]
        d = c // self.n_heads
        self.q_proj = nn.Linear(c, self.n_heads * d, bias=False)
        self.k_proj = nn.Linear(c, self.n_kv_heads * d, bias=False)
        self.v_proj = nn.Linear(c, self.n_kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.n_heads * d, c, bias=False)
        # RoPE angles theta^(-2i/D) * position, "rotate half" layout (Su et al. 2021).
        inv_freq = m["rope_theta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angles = torch.arange(m["block_size"], dtype=torch.float64)[:, None] * inv_freq
        angles = torch.cat([angles, angles], -1)  # (block_size, D)
        dtype = torch.get_default_dtype()
        self.register_buffer("cos", angles.cos().to(dtype), persistent=False)
        self.register_buffer("sin", angles.sin().to(dtype), persistent=False)

    def rope(self, x):
        """x (B, heads, T, D) at positions 0..T-1."""
        t, half = x.shape[2], x.shape[3] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * self.cos[:t] + rotated * self.sin[:t]

    def forward(self, a):
        b, t, c = a.shape
        q = self.rope(self.q_proj(a).view(b, t, self.n_heads, -1).transpose(1, 2))  # (B,H,T,D)
        k = self.rope(self.k_proj(a).view(b, t, self.n_kv_heads, -1).transpose(1, 2))
        v = self.v_proj(a).view(b, t, self.n_kv_heads, -1).transpose(1, 2)  # (B, H_kv, T, D)
        group = self.n_heads // self.n_kv_heads  # head h reads kv head h / group
        k = k.repeat_interleave(group, dim=1)  # (B, H, T, D)
        v = v.repeat_interleave(group, dim=1)
        y = causal_attention(q, k, v)  # (B, H, T, D)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, c))


class DenseFFN(nn.Module):
    """down(silu(gate x) * up x) (SwiGLU, Shazeer 2020)."""

    def __init__(self, m):
        super().__init__()
        c, f = m["n_embed"], m["ffn_hidden"]
        self.gate_proj = nn.Linear(c, f, bias=False)
        self.up_proj = nn.Linear(c, f, bias=False)
        self.down_proj = nn.Linear(f, c, bias=False)

    def forward(self, a):
        return self.down_proj(F.silu(self.gate_proj(a)) * self.up_proj(a)), None, None


class SortedMoE(nn.Module):
    """Top-k router and SwiGLU experts; assignments sorted by expert, one matmul per expert."""

    def __init__(self, m):
        super().__init__()
        c, f, e = m["n_embed"], m["ffn_hidden"], m["n_experts"]
        self.top_k, self.with_z = m["top_k"], m["z_loss_coef"] > 0
        self.gate = nn.Linear(c, e, bias=False)
        self.w1 = nn.Parameter(torch.empty(e, f, c))  # (E, F, C)
        self.w3 = nn.Parameter(torch.empty(e, f, c))  # (E, F, C)
        self.w2 = nn.Parameter(torch.empty(e, c, f))  # (E, C, F)

    def forward(self, a):
        """a (B, T, C) -> out (B, T, C), Switch aux loss, z loss (None when unused)."""
        x = a.reshape(-1, a.shape[-1])  # (N, C)
        n, k, n_experts = x.shape[0], self.top_k, self.w1.shape[0]
        logits = self.gate(x)  # (N, E)
        top_logits, top_idx = logits.topk(k, dim=-1)  # (N, k)
        gates = torch.softmax(top_logits, dim=-1)  # (N, k), Mixtral's renormalised top-k
        slot_expert = top_idx.reshape(-1)  # (N*k); slot n*k + j is token n's j-th choice
        order = torch.argsort(slot_expert, stable=True)  # (N*k) slots grouped by expert
        token = order // k  # (N*k) token of each sorted slot
        counts = torch.bincount(slot_expert, minlength=n_experts)  # (E)
        rows = x.index_select(0, token)  # (N*k, C) in expert order
        outs = []
        for e, xe in enumerate(rows.split(counts.tolist())):
            if xe.shape[0]:
                h = F.silu(F.linear(xe, self.w1[e])) * F.linear(xe, self.w3[e])  # (n_e, F)
                outs.append(F.linear(h, self.w2[e]))  # (n_e, C)
        y = torch.cat(outs) * gates.reshape(-1)[order].unsqueeze(-1)  # (N*k, C)
        out = torch.zeros_like(x).index_add_(0, token, y)  # (N, C)
        # Switch Transformer (Fedus et al. 2021): E * sum_e f_e * P_e, f_e the share of the N*k
        # assignments (no gradient), P_e the mean router probability.
        fraction = counts.to(x.dtype) / (n * k)
        aux = n_experts * (fraction * torch.softmax(logits, dim=-1).mean(0)).sum()
        z = torch.logsumexp(logits, dim=-1).pow(2).mean() if self.with_z else None
        return out.view_as(a), aux, z


class Block(nn.Module):
    def __init__(self, m, is_moe):
        super().__init__()
        self.input_layernorm = RMSNorm(m["n_embed"], m["norm_eps"])
        self.self_attn = Attention(m)
        self.post_attention_layernorm = RMSNorm(m["n_embed"], m["norm_eps"])
        self.ffn = SortedMoE(m) if is_moe else DenseFFN(m)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        y, aux, z = self.ffn(self.post_attention_layernorm(x))
        return x + y, aux, z


class LlamaModel(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m
        moe_layers = {"all": True, "none": False}[m["moe_layers"]]
        self.embed_tokens = nn.Embedding(m["vocab_size"], m["n_embed"])
        self.layers = nn.ModuleList(Block(m, moe_layers) for _ in range(m["n_layers"]))
        self.norm = RMSNorm(m["n_embed"], m["norm_eps"])
        self.lm_head = nn.Linear(m["n_embed"], m["vocab_size"], bias=False)

    def forward(self, tokens, targets):
        """tokens, targets (B, T) -> (objective, cross-entropy)."""
        x = self.embed_tokens(tokens)  # (B, T, C)
        aux_sum, z_sum = 0.0, 0.0
        for layer in self.layers:
            x, aux, z = layer(x)
            if aux is not None:
                aux_sum = aux_sum + aux
            if z is not None:
                z_sum = z_sum + z
        logits = self.lm_head(self.norm(x))  # (B, T, V)
        ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        return ce + self.m["aux_loss_coef"] * aux_sum + self.m["z_loss_coef"] * z_sum, ce

    def init_normal(self):
        """moe.cpp's "normal" init (src/nn/init.cpp): every matrix N(0, init_std), the residual
        output projections N(0, init_std / sqrt(2 n_layers)) (GPT-2); norm weights 1."""
        std = self.m["init_std"]
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            residual = name.endswith(("o_proj.weight", "down_proj.weight", ".w2"))
            nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.m["n_layers"]) if residual else std)

    def active_params(self):
        """Parameters a token passes through: all but the experts its top-k leave out."""
        inactive = sum((ffn.w1.shape[0] - ffn.top_k) * (ffn.w1[0].numel() * 3)
                       for ffn in (layer.ffn for layer in self.layers)
                       if isinstance(ffn, SortedMoE))
        return sum(p.numel() for p in self.parameters()) - inactive


def check_supported(config):
    """The peer implements what the benchmark uses; anything else is refused, not ignored."""
    m, t = config["model"], config["train"]
    wanted = {("model", "arch"): "llama", ("model", "router"): "topk",
              ("model", "init"): "normal", ("model", "n_shared_experts"): 0,
              ("model", "capacity_factor"): 0.0, ("model", "dropout"): 0.0,
              ("train", "grad_accum"): 1, ("data", "sampling"): "random"}
    for (section, key), value in wanted.items():
        if config[section][key] != value:
            fail(f"llama_pytorch.py supports {section}.{key} = {value!r} only, got "
                 f"{config[section][key]!r}")
    if m["moe_layers"] not in ("all", "none"):
        fail(f"llama_pytorch.py supports model.moe_layers all or none, got {m['moe_layers']!r}")
    if t["lr_schedule"] not in ("cosine", "constant"):
        fail(f"unknown train.lr_schedule {t['lr_schedule']!r}")


def lr_at(t, step):
    """src/train/lr_schedule.cpp: linear warmup, then constant or cosine down to min_lr."""
    if step < t["warmup_steps"]:
        return t["lr"] * (step + 1) / t["warmup_steps"]
    if t["lr_schedule"] == "constant":
        return t["lr"]
    progress = min(1.0, (step - t["warmup_steps"]) / max(1, t["steps"] - t["warmup_steps"]))
    return t["min_lr"] + (t["lr"] - t["min_lr"]) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_adamw(model, t):
    """AdamW with moe.cpp's decay groups: fused on CPU where torch has it (>= 2.4), else
    foreach (one multi-tensor update per group)."""
    groups = [{"params": [p for p in model.parameters() if p.dim() >= 2],
               "weight_decay": t["weight_decay"]},
              {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]
    kwargs = {"lr": t["lr"], "betas": (t["beta1"], t["beta2"]), "eps": t["adam_eps"]}
    try:
        return "fused", torch.optim.AdamW(groups, fused=True, **kwargs)
    except (TypeError, RuntimeError):  # TypeError: no `fused`; RuntimeError: CUDA-only fused
        return "foreach", torch.optim.AdamW(groups, foreach=True, **kwargs)


def load_text(path, train_fraction):
    """Character ids (sorted vocabulary, as moe.cpp's char tokenizer) split by position."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n_train = int(math.floor(len(data) * train_fraction))
    return len(stoi), data[:n_train], data[n_train:]


def get_batch(data, batch, block):
    """batch random windows of block tokens and their next tokens: (B, T) each."""
    start = torch.randint(len(data) - block, (batch, 1))
    idx = start + torch.arange(block)  # (B, T)
    return data[idx], data[idx + 1]


@torch.no_grad()
def estimate_loss(model, data, batch, block, iters):
    return sum(model(*get_batch(data, batch, block))[1].item() for _ in range(iters)) / iters


def train(config, data_path, threads):
    check_supported(config)
    m, t = config["model"], config["train"]
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(t["seed"])
    vocab, train_data, val_data = load_text(data_path, config["data"]["train_fraction"])
    if vocab != m["vocab_size"]:
        fail(f"{data_path} has {vocab} characters but model.vocab_size is {m['vocab_size']}")
    model = LlamaModel(m)
    model.init_normal()
    params = sum(p.numel() for p in model.parameters())
    adamw_kind, optimizer = make_adamw(model, t)
    print(f"parameters: {params} ({model.active_params()} active per token), vocab {vocab}, "
          f"threads {torch.get_num_threads()}, attention {ATTENTION_NAME}, AdamW {adamw_kind}",
          flush=True)
    batch, block, steps = t["batch_size"], m["block_size"], t["steps"]
    timed = timed_steps(steps)
    timed_seconds = 0.0
    losses = {}
    for step in range(steps):
        start = time.perf_counter()
        xb, yb = get_batch(train_data, batch, block)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(t, step)
        objective, _ = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        optimizer.step()
        if step in timed:
            timed_seconds += time.perf_counter() - start
        done = step + 1
        if (t["eval_every"] > 0 and done % t["eval_every"] == 0) or done == steps:
            losses = {name: estimate_loss(model, split, batch, block, t["eval_iters"])
                      for name, split in (("train", train_data), ("val", val_data))}
            print(f"step {done}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}",
                  flush=True)
    print(json.dumps({
        "impl": "pytorch-efficient",
        "params": params,
        "active_params": model.active_params(),
        "steps": steps,
        "tokens_per_s": batch * block * len(timed) / timed_seconds,
        "seconds": timed_seconds,
        "attention": ATTENTION_NAME,
        "adamw": adamw_kind,
        "train_loss": losses["train"],
        "val_loss": losses["val"],
    }))


def reference_names(name, is_moe):
    """The mirror's names for one of our parameters: our `ffn` is its block_sparse_moe (MoE) or
    mlp (dense), and a stacked expert tensor (E, ...) is its experts.{e}.wN.weight."""
    name = name.replace(".ffn.", ".block_sparse_moe." if is_moe else ".mlp.")
    name = name if name.startswith("lm_head") else "model." + name
    prefix, proj = name.rsplit(".", 1)
    if proj in ("w1", "w2", "w3"):
        return [f"{prefix}.experts.{e}.{proj}.weight" for e in range(MIRROR_EXPERTS)]
    return [name]


MIRROR_EXPERTS = 4


def check_reference():
    """Loads the same random fp64 weights into this model and tools/reference/moe_reference.py
    (the mirror the e2e.reference_check test holds moe.cpp to), MoE and dense, and compares the
    objective and every gradient; fails on a relative error above 1e-10."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools", "reference"))
    import moe_reference as ref
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    for moe_layers in ("all", "none"):
        m = {"arch": "llama", "router": "topk", "vocab_size": 11, "block_size": 12, "n_embed": 16,
             "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "ffn_hidden": 8,
             "n_experts": MIRROR_EXPERTS, "top_k": 2, "n_shared_experts": 0,
             "capacity_factor": 0.0, "aux_loss_coef": 0.01, "z_loss_coef": 0.001,
             "norm_eps": 1e-5, "rope_theta": 10000.0, "dropout": 0.0, "moe_layers": moe_layers,
             "init_std": 0.02}
        ours = LlamaModel(m)
        theirs = ref.Model(ref.ModelConfig(m))
        mirror = dict(theirs.named_parameters())
        mapped = []
        with torch.no_grad():
            for name, p in ours.named_parameters():
                nn.init.normal_(p, 0.0, 0.5)
                names = reference_names(name, moe_layers == "all")
                for i, n in enumerate(names):
                    mirror[n].copy_(p[i] if len(names) > 1 else p)
                mapped += names
        if sorted(mapped) != sorted(mirror):
            fail(f"parameter names differ from the mirror's: {sorted(set(mirror) ^ set(mapped))}")
        tokens, targets = torch.randint(m["vocab_size"], (2, 3, m["block_size"]))
        ours_obj, _ = ours(tokens, targets)
        theirs_obj = ref.objective(theirs, tokens, targets, 1.0, {})["objective"]
        ours_obj.backward()
        theirs_obj.backward()
        worst = abs(ours_obj.item() - theirs_obj.item()) / abs(theirs_obj.item())
        for name, p in ours.named_parameters():
            names = reference_names(name, moe_layers == "all")
            expected = torch.stack([mirror[n].grad for n in names]) if len(names) > 1 \
                else mirror[names[0]].grad
            worst = max(worst, ((p.grad - expected).abs().max() / expected.abs().max()).item())
        print(f"moe_layers={moe_layers}: objective {ours_obj.item():.12f} (mirror "
              f"{theirs_obj.item():.12f}), largest relative error of objective and gradients "
              f"{worst:.2e}")
        if not worst <= 1e-10:
            fail("llama_pytorch.py does not match tools/reference/moe_reference.py")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="JSON: the config object of a moe.cpp start record")
    parser.add_argument("--data", help="the text file moe.cpp trained on (character level)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--check-reference", action="store_true")
    args = parser.parse_args()
    if args.check_reference:
        check_reference()
        return
    if not args.config or not args.data:
        parser.error("--config and --data are required")
    with open(args.config) as f:
        train(json.load(f), args.data, args.threads)


if __name__ == "__main__":
    main()
