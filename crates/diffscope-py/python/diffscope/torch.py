"""A PyTorch module as a diffscope score, without making torch a dependency of the package.

``score_from_module(model, d, device="cpu")`` returns a :class:`diffscope.CallableScore` whose callable
moves the float32 batch to ``device``, runs ``model(x, t)`` under ``torch.inference_mode()`` and returns a
NumPy array. ``model`` must return the score S(x, t) in OU time (convert an EDM denoiser D(x; σ) with
S = (D - x)/σ² in the variance-exploding frame first; see science.md for the converters).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import CallableScore


def score_from_module(model: Any, d: int, device: str = "cpu", name: str = "torch module") -> CallableScore:
    import torch  # imported here: torch is optional

    def f(x: np.ndarray, t: float) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(x).to(device)
            tt = torch.full((x.shape[0],), float(t), dtype=xt.dtype, device=device)
            return model(xt, tt).detach().to("cpu", torch.float32).numpy()

    return CallableScore(f, d, name=name)
