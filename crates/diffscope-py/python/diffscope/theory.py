"""Theory of the regimes (science.md §4, manifold.md), in OU time.

- :func:`t_speciation` ½ log(Λ / v∞); :func:`t_collapse_gmm` the two-class GMM's t_C;
- :func:`speciation_curve` φ(t) of the two-class GMM; :func:`excess_entropy_gmm` f^e(t)/α;
- :func:`manifold` every t_S / t_C variant of the hidden-manifold mixture (GE coefficients, linear and
  Marchenko-Pastur t_C, GLM replica-symmetric t_C with and without latent centres) as a dict.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

from . import _diffscope as _core


def t_speciation(lam: float, v_inf: float = 1.0) -> float:
    """t_S = ½ log(Λ / v∞) for the top covariance eigenvalue Λ."""
    return _core.t_speciation(float(lam), float(v_inf))


def t_collapse_gmm(n: int, d: int, sigma2: float = 1.0) -> float:
    """Collapse time of n points of the two-class GMM in dimension d (variance σ²)."""
    return _core.t_collapse_gmm(int(n), int(d), float(sigma2))


def speciation_curve(m_norm: float, sigma2: float, t: float) -> float:
    """φ(t): the probability that two clones branched at t end in the same class (two-class GMM, |m|)."""
    return _core.speciation_curve(float(m_norm), float(sigma2), float(t))


def excess_entropy_gmm(t: float, alpha: float, sigma2: float = 1.0) -> float:
    """The excess entropy f^e(t)/α of the two-class GMM at α = ln n / d."""
    return _core.excess_entropy_gmm(float(t), float(alpha), float(sigma2))


def manifold(d: int = 100, beta: float = 0.5, activation: str = "tanh", alpha: float = 0.1, mu2: float = 1.0,
             kappa: Optional[float] = None, embedding: str = "gaussian", centres: bool = True) -> dict:
    """Every theory number of the hidden-manifold mixture at α = ln n / d (see ``diffscope theory``)."""
    spec = {"d": d, "beta": beta, "activation": activation, "mu2": mu2, "kappa": kappa, "embedding": embedding}
    return json.loads(_core.manifold_theory(json.dumps(spec), float(alpha), bool(centres)))


def sweep(betas: Optional[Sequence[float]] = None, d: int = 100, alpha: float = 0.1, mu2: float = 1.0,
          kappa: Optional[float] = None, embedding: str = "gaussian", centres: bool = False,
          out: Optional[str] = None) -> list:
    """The manifold paper's figures: every theory number for each activation and β (default 0.05 … 1);
    writes sweep.csv, sweep.json, t_s_vs_beta and t_c_vs_beta figures and index.html when ``out`` is
    given. Returns one dict per (activation, β)."""
    import os

    bs = [0.05 * i for i in range(1, 21)] if betas is None else [float(b) for b in betas]
    base = {"d": d, "beta": 0.5, "activation": "tanh", "mu2": mu2, "kappa": kappa, "embedding": embedding}
    text = _core.theory_sweep(json.dumps(base), bs, float(alpha), bool(centres),
                              None if out is None else os.fspath(out))
    return json.loads(text)
