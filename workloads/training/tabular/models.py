"""Tabular models for any project: an MLP and a small FT-Transformer.

Contract (the ONNX export relies on it): `forward(numeric float32 [B, n_num] raw values from
`encode`, categorical int64 [B, n_cat]) -> logits [B] (binary), logits [B, K] (multiclass) or the
value [B] (regression, in the label's units)`. Standardisation is inside the model as buffers
built from the FeatureSpec, so serving only has to run `encode`; a regression model also holds the
training label's mean and std and learns the standardised target (the loss is computed on that
scale), so its raw output is already in the label's units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workloads.features.encoding import FeatureSpec
from workloads.training.tabular.config import ModelConfig

# Standardised inputs are clipped: a drifted or corrupt value far outside training never
# saturates every unit downstream.
_CLIP = 10.0


class _Inputs(nn.Module):
    """Standardise numerics and look categoricals up in one embedding table (with offsets)."""

    mean: torch.Tensor
    std: torch.Tensor
    offsets: torch.Tensor

    def __init__(self, spec: FeatureSpec, embed_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([spec.numeric_means[n] for n in spec.numeric], dtype=torch.float32))
        self.register_buffer("std", torch.tensor([spec.numeric_stds[n] for n in spec.numeric], dtype=torch.float32))
        cards = spec.cardinalities
        offsets = torch.tensor([0, *cards[:-1]], dtype=torch.int64).cumsum(0) if cards else torch.zeros(0, dtype=torch.int64)
        self.register_buffer("offsets", offsets)
        self.embed = nn.Embedding(max(1, sum(cards)), embed_dim)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((numeric - self.mean) / self.std).clamp(-_CLIP, _CLIP).to(self.embed.weight.dtype)
        return x, self.embed(categorical + self.offsets)  # [B, n_num], [B, n_cat, E]


class _Head(nn.Module):
    """The task's output: one logit (binary), K logits (multiclass) or the value (regression),
    de-standardised with the training label's statistics."""

    target: torch.Tensor

    def __init__(self, width: int, spec: FeatureSpec, target_mean: float, target_std: float) -> None:
        super().__init__()
        self.linear = nn.Linear(width, spec.outputs)
        self.squeeze = spec.outputs == 1
        self.regression = spec.task == "regression"
        self.register_buffer("target", torch.tensor([target_mean, target_std], dtype=torch.float32))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.linear(h)
        out = out.squeeze(-1) if self.squeeze else out
        return out * self.target[1] + self.target[0] if self.regression else out


class TabularMLP(nn.Module):
    def __init__(self, spec: FeatureSpec, cfg: ModelConfig, target_mean: float = 0.0, target_std: float = 1.0) -> None:
        super().__init__()
        self.inputs = _Inputs(spec, cfg.embed_dim)
        width = len(spec.numeric) + len(spec.categorical) * cfg.embed_dim
        layers: list[nn.Module] = []
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        self.mlp = nn.Sequential(*layers)
        self.head = _Head(width, spec, target_mean, target_std)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        x, emb = self.inputs(numeric, categorical)
        return self.head(self.mlp(torch.cat([x, emb.flatten(1)], dim=1)))


class _Block(nn.Module):
    """Pre-norm transformer block; attention through scaled_dot_product_attention (flash on GPU)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.ff(self.norm2(x))


class TabularTransformer(nn.Module):
    """A small FT-Transformer: one token per feature plus a [CLS] token that the head reads."""

    def __init__(self, spec: FeatureSpec, cfg: ModelConfig, target_mean: float = 0.0, target_std: float = 1.0) -> None:
        super().__init__()
        d, n_num = cfg.hidden, len(spec.numeric)
        self.inputs: _Inputs = _Inputs(spec, d)
        self.num_weight = nn.Parameter(torch.randn(n_num, d) * 0.02)
        self.num_bias = nn.Parameter(torch.zeros(n_num, d))
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.blocks = nn.ModuleList(_Block(d, cfg.heads, cfg.dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.head = _Head(d, spec, target_mean, target_std)

    @property
    def tokens(self) -> int:
        return 1 + self.num_weight.shape[0] + int(self.inputs.offsets.numel())

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        x, emb = self.inputs(numeric, categorical)
        num_tokens = x.unsqueeze(-1) * self.num_weight + self.num_bias  # [B, n_num, d]
        h = torch.cat([self.cls.expand(x.shape[0], -1, -1), num_tokens, emb], dim=1)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h[:, 0]))


def build_model(spec: FeatureSpec, cfg: ModelConfig, target_mean: float = 0.0, target_std: float = 1.0) -> nn.Module:
    cls = TabularMLP if cfg.kind == "mlp" else TabularTransformer
    return cls(spec, cfg, target_mean, target_std)


def train_flops_per_sample(model: nn.Module) -> float:
    """Dense FLOPs of one training sample (forward + backward = 3x forward), for MFU.

    Counts matmuls only (2 FLOPs per multiply-add): linear layers on every token, plus the
    attention score and value products (4 * T^2 * d per layer). Embedding lookups are free.
    """
    if isinstance(model, TabularTransformer):
        t, d = model.tokens, model.cls.shape[-1]
        per_layer = 2 * t * (3 * d * d + d * d + 8 * d * d) + 4 * t * t * d
        forward = len(model.blocks) * per_layer + 2 * d * model.head.linear.out_features + 2 * model.num_weight.numel()
    else:
        forward = sum(2 * m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    return 3.0 * forward
