"""The Hessian approximation of TrackStar (Chang et al. 2024, arXiv 2410.17413, sec. 3):
R = lambda R_eval + (1 - lambda) R_train over projected, corrected gradients, damped,
applied as R^(-1/2) to both sides. Pure numpy; every formula a small function.
"""

from __future__ import annotations

import numpy as np

PAPER_EIGEN_INDEX = 1000  # the paper's c, for its projection dimension d = 2^16
PAPER_DIM = 65_536
DEFAULT_DAMPING = 0.1


def second_moment(features: np.ndarray) -> np.ndarray:
    """R = (1/n) sum_i g_i g_i^T of n feature rows g_i (float64, d x d)."""
    g = np.asarray(features, dtype=np.float64)
    if g.ndim != 2 or len(g) == 0:
        raise ValueError("second_moment needs a non-empty [n, d] array")
    out: np.ndarray = g.T @ g / len(g)
    return out


def eigenvalues_desc(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric matrix, largest first (negative round-off clipped to 0)."""
    values = np.linalg.eigvalsh(np.asarray(matrix, dtype=np.float64))[::-1]
    out: np.ndarray = np.clip(values, 0.0, None)
    return out


def eigen_index(dim: int, n_eval: int | None = None, n_train: int | None = None) -> int:
    """The paper's c = 1000 at d = 65,536, scaled to `dim` and kept below the rank of
    both matrices (with fewer samples than c, sigma[c] would be 0 and lambda meaningless)."""
    c = round(PAPER_EIGEN_INDEX * dim / PAPER_DIM)
    for n in (n_eval, n_train):
        if n is not None:
            c = min(c, n - 1)
    return max(0, min(c, dim - 1))


def mixing_lambda(sigma_train: np.ndarray, sigma_eval: np.ndarray, c: int) -> float:
    """lambda with lambda * sigma_eval[c] = (1 - lambda) * sigma_train[c] (the paper's rule:
    the c-th eigenvalues of both terms weigh equally); 0 when R_eval has no mass there."""
    st, se = float(sigma_train[c]), float(sigma_eval[c])
    if st + se <= 0.0:
        return 0.0
    return st / (st + se)


def mix(r_train: np.ndarray, r_eval: np.ndarray | None, lam: float) -> np.ndarray:
    """lambda R_eval + (1 - lambda) R_train (R_train alone without an eval set)."""
    if r_eval is None:
        return np.asarray(r_train, dtype=np.float64)
    out: np.ndarray = lam * r_eval + (1.0 - lam) * r_train
    return out


def damping_value(values: np.ndarray, delta: float = DEFAULT_DAMPING) -> float:
    """delta x the mean eigenvalue (the paper's damping; delta = 0.1 by default)."""
    return float(delta * np.mean(values))


def inverse_sqrt(matrix: np.ndarray, delta: float = DEFAULT_DAMPING) -> tuple[np.ndarray, float]:
    """(R + damping I)^(-1/2) by eigendecomposition, and the damping added."""
    r = np.asarray(matrix, dtype=np.float64)
    r = (r + r.T) / 2
    values, vectors = np.linalg.eigh(r)
    values = np.clip(values, 0.0, None)
    damp = damping_value(values, delta)
    if damp <= 0.0:
        damp = 1e-12
    out: np.ndarray = (vectors / np.sqrt(values + damp)) @ vectors.T
    return out, damp


def sqrt_psd(matrix: np.ndarray, damp: float) -> np.ndarray:
    """(R + damping I)^(1/2): undoes `inverse_sqrt` on stored features (see score.py)."""
    r = np.asarray(matrix, dtype=np.float64)
    values, vectors = np.linalg.eigh((r + r.T) / 2)
    out: np.ndarray = (vectors * np.sqrt(np.clip(values, 0.0, None) + damp)) @ vectors.T
    return out


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (zero rows stay zero)."""
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out
