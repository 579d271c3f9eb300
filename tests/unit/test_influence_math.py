"""The Hessian formulas of TrackStar on known matrices (numpy only; no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from corpustrace.influence import hessian


def test_lambda_rule_balances_the_c_th_eigenvalues() -> None:
    sigma_train = np.array([4.0, 3.0, 2.0, 1.0])
    sigma_eval = np.array([10.0, 6.0, 2.0, 0.5])
    lam = hessian.mixing_lambda(sigma_train, sigma_eval, 1)
    assert lam == pytest.approx(1 / 3)
    assert lam * sigma_eval[1] == pytest.approx((1 - lam) * sigma_train[1])
    assert hessian.mixing_lambda(sigma_train, sigma_eval, 2) == pytest.approx(0.5)
    assert hessian.mixing_lambda(np.zeros(2), np.zeros(2), 0) == 0.0


def test_eigen_index_scales_the_papers_c_and_stays_below_the_rank() -> None:
    assert hessian.eigen_index(65_536) == 1000
    assert hessian.eigen_index(4096) == round(1000 * 4096 / 65_536)
    assert hessian.eigen_index(4096, n_eval=5) == 4
    assert hessian.eigen_index(4096, n_eval=50, n_train=10) == 9
    assert hessian.eigen_index(16) == 0


def test_damping_is_delta_times_the_mean_eigenvalue() -> None:
    r = np.diag([1.0, 2.0, 3.0, 6.0])
    assert hessian.damping_value(hessian.eigenvalues_desc(r)) == pytest.approx(0.3)
    assert hessian.damping_value(np.array([1.0, 2.0, 3.0, 6.0]), 0.5) == pytest.approx(1.5)
    inv, damp = hessian.inverse_sqrt(r)
    assert damp == pytest.approx(0.3)
    np.testing.assert_allclose(inv, np.diag(1 / np.sqrt(np.diag(r) + 0.3)), atol=1e-12)


def test_inverse_sqrt_and_sqrt_undo_each_other_on_a_random_psd_matrix() -> None:
    rng = np.random.default_rng(3)
    g = rng.normal(size=(40, 12))
    r = hessian.second_moment(g)
    inv, damp = hessian.inverse_sqrt(r, 0.1)
    np.testing.assert_allclose(inv @ inv @ (r + damp * np.eye(12)), np.eye(12), atol=1e-9)
    np.testing.assert_allclose(hessian.sqrt_psd(r, damp) @ inv, np.eye(12), atol=1e-9)


def test_second_moment_is_the_mean_outer_product() -> None:
    rng = np.random.default_rng(0)
    g = rng.normal(size=(7, 5))
    slow = sum(np.outer(row, row) for row in g) / len(g)
    np.testing.assert_allclose(hessian.second_moment(g), slow, atol=1e-12)
    with pytest.raises(ValueError):
        hessian.second_moment(np.zeros((0, 3)))


def test_mix_and_unit_rows() -> None:
    a, b = np.eye(2), 3 * np.eye(2)
    np.testing.assert_allclose(hessian.mix(a, b, 0.25), 1.5 * np.eye(2))
    np.testing.assert_allclose(hessian.mix(a, None, 0.9), a)
    rows = hessian.unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
    eig = hessian.eigenvalues_desc(np.diag([1.0, 5.0, 2.0]))
    np.testing.assert_allclose(eig, [5.0, 2.0, 1.0])
