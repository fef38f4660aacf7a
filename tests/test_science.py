"""Step-1 parameters and seed derivation."""

import numpy as np

from deepsif_pipeline import science


def test_seed_derivation_is_stable_and_distinct():
    a = science.simulation_seed(1, 5, 0)
    assert a == science.simulation_seed(1, 5, 0)
    others = {science.simulation_seed(1, 5, 1), science.simulation_seed(1, 6, 0),
              science.simulation_seed(2, 5, 0), science.synthesis_seed(1)}
    assert a not in others and len(others) == 4
    assert all(0 <= s < 2 ** 32 for s in others | {a})


def test_noise_sigma_published_value():
    # (0.1 * 3.25 * (0.15 - 0.03) * 0.5 * 1.7)^2 / 2 computed by hand: 0.0011024...
    assert np.isclose(science.noise_sigma(1.7), (0.1 * 3.25 * 0.12 * 0.5 * 1.7) ** 2 / 2)
    assert np.isclose(science.noise_sigma(1.0), 0.000190125)


def test_piece_lengths():
    assert science.piece_lengths_ms(200, 10) == [10000.0] * 20
    assert science.piece_lengths_ms(2.5, 1) == [1000.0, 1000.0, 500.0]
    assert sum(science.piece_lengths_ms(3.3, 1)) == 3300.0
