#!/usr/bin/python3
"""PyTorch peer for the training benchmark: the makeMoE tutorial model
(github.com/AviSoori1x/makeMoE, makeMoE_from_Scratch) written the way the tutorial writes it,
trained on Tiny Shakespeare at the character level.

Per-head attention modules, a noisy top-k router that scatters the kept logits into -inf before
a softmax, and a sparse MoE that loops over the experts with dense masks. The tutorial's details
are kept on purpose, and moe.cpp's makemoe preset trains the same way: attention scores are
scaled by n_embed**-0.5, not head_size**-0.5 (model.attention_scale); each expert ends in its own
dropout, applied before the gate weighs its output (model.expert_dropout); AdamW's default
weight decay 0.01 applies to every parameter, biases and LayerNorms included
(train.weight_decay_params = "all"). The router noise is drawn in evaluation too, which moe.cpp
does with model.router_noise_at_eval = true (train_vs_pytorch.py sets it, so that both loss
curves are measured alike).

Prints the parameter count, train/val loss at each evaluation, and finally one JSON line:
{"impl", "params", "steps", "tokens_per_s", "seconds", "final_train_loss", "val_loss"};
tokens_per_s counts batch_size * block_size tokens per training step over the timed steps
(training_bench.timed_steps: evaluation and the first steps are not timed), and the final losses
are the estimate of the last evaluation (after the final step).

--whole-val adds, after that last estimate, the mean loss over the whole val split measured as
`moe eval --text VAL --contiguous` measures it (apps/cmd_eval.cpp, Evaluator::contiguous): the
non-overlapping block_size windows from the split's start, in order, every position of each
counted, the mean taken over all the positions; with the router noise drawn (as the tutorial's
evaluation does) and without it: keys "whole_val_loss", "whole_val_loss_no_noise",
"whole_val_tokens".
"""

import argparse
import json
import time

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.nn import init

from training_bench import timed_steps

# makeMoE's hyper-parameters
batch_size = 16
block_size = 32
learning_rate = 1e-3
n_embed = 128
n_head = 8
n_layer = 8
dropout = 0.1
num_experts = 8
top_k = 2


class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, head_size):
        super().__init__()
        self.key = nn.Linear(n_embed, head_size, bias=False)
        self.query = nn.Linear(n_embed, head_size, bias=False)
        self.value = nn.Linear(n_embed, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)  # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        wei = q @ k.transpose(-2, -1) * C**-0.5  # (B, T, T); the tutorial scales by n_embed
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        v = self.value(x)  # (B, T, hs)
        return wei @ v  # (B, T, hs)


class MultiHeadAttention(nn.Module):
    """Heads in parallel, concatenated, then a projection."""

    def __init__(self, num_heads, head_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(n_embed, n_embed)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class Expert(nn.Module):
    """An MLP: Linear(n, 4n), ReLU, Linear(4n, n), Dropout."""

    def __init__(self, n_embed):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embed, 4 * n_embed),
            nn.ReLU(),
            nn.Linear(4 * n_embed, n_embed),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class NoisyTopkRouter(nn.Module):
    """Noisy top-k gating (Shazeer et al. 2017): softplus-scaled Gaussian noise on the logits,
    the top k kept and the rest set to -inf before the softmax."""

    def __init__(self, n_embed, num_experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.topkroute_linear = nn.Linear(n_embed, num_experts)
        self.noise_linear = nn.Linear(n_embed, num_experts)
        self.draw_noise = True  # not the tutorial's: lets --whole-val also measure without noise

    def forward(self, mh_output):
        logits = self.topkroute_linear(mh_output)
        if not self.draw_noise:
            noisy_logits = logits
        else:
            noise_logits = self.noise_linear(mh_output)
            noise = torch.randn_like(logits) * F.softplus(noise_logits)
            noisy_logits = logits + noise
        top_k_logits, indices = noisy_logits.topk(self.top_k, dim=-1)
        zeros = torch.full_like(noisy_logits, float("-inf"))
        sparse_logits = zeros.scatter(-1, indices, top_k_logits)
        router_output = F.softmax(sparse_logits, dim=-1)
        return router_output, indices


class SparseMoE(nn.Module):
    """Router plus experts; each expert runs on the tokens whose top k include it."""

    def __init__(self, n_embed, num_experts, top_k):
        super().__init__()
        self.router = NoisyTopkRouter(n_embed, num_experts, top_k)
        self.experts = nn.ModuleList([Expert(n_embed) for _ in range(num_experts)])
        self.top_k = top_k

    def forward(self, x):
        gating_output, indices = self.router(x)
        final_output = torch.zeros_like(x)
        flat_x = x.view(-1, x.size(-1))
        flat_gating_output = gating_output.view(-1, gating_output.size(-1))
        for i, expert in enumerate(self.experts):
            expert_mask = (indices == i).any(dim=-1)
            flat_mask = expert_mask.view(-1)
            if flat_mask.any():
                expert_input = flat_x[flat_mask]
                expert_output = expert(expert_input)
                gating_scores = flat_gating_output[flat_mask, i].unsqueeze(1)
                weighted_output = expert_output * gating_scores
                final_output[expert_mask] += weighted_output.squeeze(1)
        return final_output


class Block(nn.Module):
    """Self-attention followed by the sparse MoE, both pre-norm with residuals."""

    def __init__(self, n_embed, n_head, num_experts, top_k):
        super().__init__()
        head_size = n_embed // n_head
        self.sa = MultiHeadAttention(n_head, head_size)
        self.smoe = SparseMoE(n_embed, num_experts, top_k)
        self.ln1 = nn.LayerNorm(n_embed)
        self.ln2 = nn.LayerNorm(n_embed)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        x = x + self.smoe(self.ln2(x))
        return x


class SparseMoELanguageModel(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, n_embed)
        self.position_embedding_table = nn.Embedding(block_size, n_embed)
        self.blocks = nn.Sequential(*[
            Block(n_embed, n_head=n_head, num_experts=num_experts, top_k=top_k)
            for _ in range(n_layer)
        ])
        self.ln_f = nn.LayerNorm(n_embed)
        self.lm_head = nn.Linear(n_embed, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T, C)
        pos_emb = self.position_embedding_table(torch.arange(T))  # (T, C)
        x = tok_emb + pos_emb
        x = self.blocks(x)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))
        return logits, loss


def kaiming_init_weights(m):
    if isinstance(m, nn.Linear):
        init.kaiming_normal_(m.weight)


def load_data(path):
    """Character-level encoding of the text; the first 90% trains, the rest validates."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return len(chars), data[:n], data[n:]


def get_batch(data):
    """batch_size random windows of block_size characters and their next characters."""
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, splits, eval_iters):
    out = {}
    model.eval()
    for name, data in splits.items():
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch(data)
            _, loss = model(X, Y)
            losses[k] = loss.item()
        out[name] = losses.mean().item()
    model.train()
    return out


@torch.no_grad()
def whole_split_loss(model, data, router_noise):
    """Mean cross-entropy over every position of the non-overlapping block_size windows of
    `data` from its start (windows w = 0 .. (len - 1) // block_size - 1: inputs
    data[w*T : w*T + T], targets shifted by one), batch_size windows per forward, as
    `moe eval --contiguous` scores a split (BatchSampler::contiguous, Evaluator::contiguous).
    Returns (mean loss, positions scored)."""
    windows = (len(data) - 1) // block_size
    starts = torch.arange(windows) * block_size
    routers = [m for m in model.modules() if isinstance(m, NoisyTopkRouter)]
    for r in routers:
        r.draw_noise = router_noise
    model.eval()
    total, positions = 0.0, 0
    for first in range(0, windows, batch_size):
        rows = starts[first:first + batch_size]
        x = torch.stack([data[i:i + block_size] for i in rows])
        y = torch.stack([data[i + 1:i + block_size + 1] for i in rows])
        _, loss = model(x, y)  # mean over the batch's rows * block_size positions
        total += loss.item() * y.numel()
        positions += y.numel()
    model.train()
    for r in routers:
        r.draw_noise = True
    return total / positions, positions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Tiny Shakespeare input.txt")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--eval-every", type=int, default=0,
                        help="evaluate every N steps (0: only after the last step)")
    parser.add_argument("--eval-iters", type=int, default=50,
                        help="batches per split in each evaluation")
    parser.add_argument("--whole-val", action="store_true",
                        help="after training, also score the whole val split in contiguous "
                        "windows (as moe eval --contiguous), with and without router noise")
    args = parser.parse_args()
    if args.steps < 1 or args.eval_iters < 1 or args.eval_every < 0:
        parser.error("--steps and --eval-iters must be >= 1, --eval-every >= 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    vocab_size, train_data, val_data = load_data(args.data)
    splits = {"train": train_data, "val": val_data}
    model = SparseMoELanguageModel(vocab_size)
    model.apply(kaiming_init_weights)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params} ({n_params / 1e6:.2f} M), vocab {vocab_size}, "
          f"threads {torch.get_num_threads()}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)

    timed = timed_steps(args.steps)
    timed_seconds = 0.0
    for step in range(args.steps):
        if args.eval_every > 0 and step % args.eval_every == 0:
            losses = estimate_loss(model, splits, args.eval_iters)
            print(f"step {step}: train loss {losses['train']:.4f}, "
                  f"val loss {losses['val']:.4f}", flush=True)
        start = time.perf_counter()
        xb, yb = get_batch(train_data)
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step in timed:
            timed_seconds += time.perf_counter() - start

    losses = estimate_loss(model, splits, args.eval_iters)
    print(f"step {args.steps}: train loss {losses['train']:.4f}, "
          f"val loss {losses['val']:.4f}", flush=True)
    result = {
        "impl": "pytorch-tutorial",
        "params": n_params,
        "steps": args.steps,
        "tokens_per_s": batch_size * block_size * len(timed) / timed_seconds,
        "seconds": timed_seconds,
        "final_train_loss": losses["train"],
        "val_loss": losses["val"],
    }
    if args.whole_val:
        # After the last estimate, so that the run's other figures stay as without the option.
        result["whole_val_loss"], result["whole_val_tokens"] = whole_split_loss(
            model, val_data, router_noise=True)
        result["whole_val_loss_no_noise"], _ = whole_split_loss(model, val_data,
                                                                router_noise=False)
        print(f"step {args.steps}: whole val split ({result['whole_val_tokens']} positions): "
              f"{result['whole_val_loss']:.4f} with router noise, "
              f"{result['whole_val_loss_no_noise']:.4f} without", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
