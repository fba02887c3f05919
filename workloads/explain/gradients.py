"""Integrated gradients for torch models, with one attribution per categorical feature.

Captum's `LayerIntegratedGradients` integrates, jointly, along the straight path from a reference
row to the row explained, over two kinds of layer outputs: the numeric input (an identity probe in
front of the model) and the categorical embeddings' outputs. Attributing to the embedding outputs
is what gives an embedded categorical an attribution at all (integer codes have no gradient,
meta-pytorch/captum#282); summing a feature's embedding dimensions gives it one number.

- reference row: every numeric at its training mean (the encoding's `numeric_means`) and every
  categorical at the out-of-vocabulary code 0: "an average event with unknown categories". The
  answer's `baseline` is the model's output there.
- output: binary the logit, multiclass the predicted class's logit, regression the value.
- completeness: the attributions add up to output - baseline up to the integration error; Captum's
  convergence delta measures it. `completeness_error` = |delta| / max(|output - baseline|, 0.01);
  the steps start at 16 (Gauss-Legendre) and double, up to 512, until every row is within 1%
  (the delta is computed here from the two outputs already at hand: Captum's own costs two more
  forward passes per request).
- embeddings: every `nn.Embedding` of the model, in registration order. One table whose output is
  [B, n_cat, E] (the platform's tabular models: offsets into one table), or one table per
  categorical feature ([B, E] each, in column order). Anything else is refused with the reason.

checked: captum 0.9.0 captum/attr/_core/layer/layer_integrated_gradients.py (a list of layers is
integrated jointly through forward hooks; `return_convergence_delta`; method `gausslegendre`).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from workloads.errors import SahabError
from workloads.explain.attribution import Attributions

START_STEPS, MAX_STEPS, TOLERANCE = 16, 512, 0.01
_FLOOR = 0.01


class NotExplainable(SahabError):
    """A model the platform cannot attribute (the message says why and what would work)."""


class GradientExplainer:
    """IG over one torch model (module docstring); thread-safe (one explanation at a time)."""

    def __init__(self, model: Any, features: tuple[str, ...], n_numeric: int, task: str, classes: tuple[str, ...], numeric_means: np.ndarray) -> None:
        import torch
        from captum.attr import LayerIntegratedGradients
        from torch import nn

        class _Probe(nn.Module):
            def __init__(self, inner: nn.Module) -> None:
                super().__init__()
                self.inner = inner
                self.numeric = nn.Identity()

            def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
                return self.inner(self.numeric(numeric), categorical)

        self.torch = torch
        model = model.float().cpu().eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.probe = _Probe(model).eval()
        self.features, self.n_numeric, self.task, self.classes = tuple(features), n_numeric, task, tuple(classes)
        self.n_categorical = len(features) - n_numeric
        self.embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if self.n_categorical and not self.embeddings:
            raise NotExplainable(
                f"{type(model).__name__} has no nn.Embedding for its {self.n_categorical} categorical features: "
                "integrated gradients need a differentiable path from each category (use workloads.training.tabular's models)"
            )
        if self.n_categorical and len(self.embeddings) not in (1, self.n_categorical):
            raise NotExplainable(
                f"{type(model).__name__} has {len(self.embeddings)} embedding tables for {self.n_categorical} categorical features: "
                "one table for all of them (offsets) or one per feature in column order is what can be attributed"
            )
        self.layers = [self.probe.numeric, *(self.embeddings if self.n_categorical else [])]
        with warnings.catch_warnings():
            # "Multiple layers provided...": the probe and the embeddings are independent by construction.
            warnings.simplefilter("ignore", UserWarning)
            self.lig = LayerIntegratedGradients(self._forward, self.layers)
        self.means = torch.as_tensor(np.asarray(numeric_means, dtype=np.float32)).reshape(1, -1)
        self._lock = threading.Lock()

    def _forward(self, numeric: Any, categorical: Any) -> Any:
        out = self.probe(numeric, categorical)
        return out.reshape(-1) if self.task != "multiclass" else out

    def _per_feature(self, layer_attrs: list[Any], n: int) -> np.ndarray:
        parts = [layer_attrs[0].reshape(n, -1)]
        rest = layer_attrs[1:]
        if len(rest) == 1 and self.n_categorical:
            emb = rest[0]
            if emb.dim() == 3 and emb.shape[1] == self.n_categorical:
                parts.append(emb.sum(dim=2))
            elif emb.dim() == 2 and self.n_categorical == 1:
                parts.append(emb.sum(dim=1, keepdim=True))
            else:
                raise NotExplainable(f"the embedding output has shape {list(emb.shape)}; expected [B, {self.n_categorical}, E]")
        elif rest:
            parts.extend(e.reshape(n, -1).sum(dim=1, keepdim=True) for e in rest)
        values = self.torch.cat(parts, dim=1).double().numpy()
        if values.shape[1] != len(self.features):
            raise NotExplainable(f"{values.shape[1]} attributions for {len(self.features)} features")
        return values

    def explain(self, numeric: np.ndarray, categorical: np.ndarray, max_steps: int = MAX_STEPS) -> Attributions:
        """`max_steps` bounds the doubling (global importance trades the last digits for time)."""
        torch = self.torch
        n = len(numeric)
        x_num = torch.as_tensor(np.asarray(numeric, dtype=np.float32))
        x_cat = torch.as_tensor(np.asarray(categorical, dtype=np.int64))
        b_num = self.means.expand(n, -1).contiguous()
        b_cat = torch.zeros_like(x_cat)
        with self._lock:
            with torch.no_grad():
                out = self._forward(x_num, x_cat)
                base = self._forward(b_num, b_cat)
            if self.task == "multiclass":
                target = out.argmax(dim=1)
                output = out.gather(1, target[:, None])[:, 0].double().numpy()
                baseline = base.gather(1, target[:, None])[:, 0].double().numpy()
                explained = tuple(self.classes[i] for i in target.tolist())
                target_arg: Any = target
            else:
                output, baseline, explained, target_arg = out.double().numpy(), base.double().numpy(), (), None
            steps = START_STEPS
            while True:
                attrs = self.lig.attribute((x_num, x_cat), baselines=(b_num, b_cat), target=target_arg, n_steps=steps, method="gausslegendre")
                values = self._per_feature(list(attrs), n)
                error = np.abs(values.sum(axis=1) - (output - baseline)) / np.maximum(np.abs(output - baseline), _FLOOR)
                if error.max(initial=0.0) <= TOLERANCE or steps >= max_steps:
                    break
                steps *= 2
        return Attributions(
            self.features, values, baseline, output, "logit" if self.task != "regression" else "value", "integrated_gradients", explained, error, steps
        )
