"""Science parameters (science.json read by science.py) and seed derivation."""

import json

import numpy as np
import pytest

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


# ---- science.json, the one home of the parameters ------------------------------------------

def _raw():
    return json.loads(science.PARAMS_FILE.read_text(encoding="utf-8"))


def _entries(group, prefix=""):
    """``(dotted name, entry)`` of every entry of a group, nested groups included."""
    for name, node in group.items():
        assert isinstance(node, dict), f"{prefix}{name} is neither an entry nor a group"
        if science.is_entry(node):
            yield prefix + name, node
        else:
            yield from _entries(node, f"{prefix}{name}.")


def test_json_layout_and_meanings():
    raw = _raw()
    assert set(raw) == {"about", "step1", "step2", "step4"}
    assert "Sun et al., PNAS 2022" in raw["about"] and "deepsif_params.m" in raw["about"]
    entries = [(f"{s}.{name}", e) for s in science.SECTIONS for name, e in _entries(raw[s])]
    assert len(entries) > 40
    for name, entry in entries:
        assert set(entry) <= {"value", "meaning", "unit"}, f"{name}: {sorted(entry)}"
        assert isinstance(entry["meaning"], str) and entry["meaning"].strip(), f"{name} has no meaning"
        assert isinstance(entry.get("unit", "-"), str) and entry.get("unit", "-").strip(), name
    # one name per parameter across the sections (deepsif_params.m flattens them)
    top = [name for s in science.SECTIONS for name in raw[s]]
    assert len(top) == len(set(top)), sorted(n for n in top if top.count(n) > 1)
    assert "mean_iterations" in raw["step1"] and "target_snr_db" in raw["step2"]


# science.py constant -> (section, name in science.json)
CONSTANTS = {
    "A_NORMAL": ("step1", "a_normal"), "A_EXCITABLE": ("step1", "a_excitable"), "V0": ("step1", "v0"),
    "P_MAX": ("step1", "p_max"), "P_MIN": ("step1", "p_min"),
    "MEAN_ITERATIONS": ("step1", "mean_iterations"), "MEAN_INPUT": ("step1", "mean_input"),
    "NOISE_FACTOR": ("step1", "noise_factor"), "NOISY_STATE_VARIABLE": ("step1", "noisy_state_variable"),
    "COUPLING_A": ("step1", "coupling_a"), "DT_MS": ("step1", "dt_ms"),
    "SIM_LENGTH_S": ("step1", "sim_length_s"), "PIECE_LENGTH_S": ("step1", "piece_length_s"),
    "MIN_SIM_LENGTH_S": ("step1", "min_sim_length_s"), "TARGET_SNR_DB": ("step2", "target_snr_db"),
    "TRANSIENT_SAMPLES": ("step2", "transient_samples"), "DOWNSAMPLE_FACTOR": ("step2", "downsample_factor"),
    "CLIP_LENGTH": ("step2", "clip_length"), "PAD_VALUE": ("step4", "pad_value"),
}
INTS = {"NOISY_STATE_VARIABLE", "TRANSIENT_SAMPLES", "DOWNSAMPLE_FACTOR", "CLIP_LENGTH", "PAD_VALUE"}


def test_constants_are_the_json_values():
    raw = _raw()
    for constant, (section, name) in CONSTANTS.items():
        got, expected = getattr(science, constant), raw[section][name]["value"]
        if isinstance(expected, list):
            assert isinstance(got, tuple) and list(got) == expected, constant
            kind = int if constant == "MEAN_ITERATIONS" else float
            assert all(type(x) is kind for x in got), constant
        else:
            assert got == expected and type(got) is (int if constant in INTS else float), constant


def test_values_and_params():
    raw = _raw()
    for section in science.SECTIONS:
        got = science.values(section)
        assert got == science.entry_values(raw[section])
        assert json.loads(json.dumps(got)) == got  # JSON types only
        assert list(got) == list(raw[section])  # the file's order
        got[next(iter(got))] = "changed"  # a copy: the module is untouched
        assert science.values(section) != got
        assert science.PARAMS[section].keys() == got.keys()
    assert science.values("step4")["modes"]["train"]["target_snr"] == [10, 12, 14, 16, 18, 20]
    assert science.PARAMS["step4"]["modes"]["test"]["target_snr"] == (10, 15)
    with pytest.raises(TypeError):
        science.PARAMS["step1"]["a_normal"] = 4.0
    with pytest.raises(KeyError):
        science.values("step3")


def test_load_params_refuses_a_missing_section(tmp_path):
    raw = _raw()
    del raw["step4"]
    (tmp_path / "science.json").write_text(json.dumps(raw))
    with pytest.raises(KeyError, match="step4"):
        science.load_params(tmp_path / "science.json")
