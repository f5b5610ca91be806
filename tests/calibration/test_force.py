"""Force curves: linear for a load cell, power law in conductance for an FSR divider;
the scale recovered within 2 % and the fit error reported."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.force import fit_force, raw_level
from calibration.store import fsr_conductance_s
from firmware.common.errors import CalibrationError
from tests.calibration.synth import still

G0 = 9.80665


def test_linear_load_cell():
    rng = np.random.default_rng(1)
    tare, counts_per_n = 81234.0, 212.7
    kg = [2, 5, 10, 20]
    points = [(tare + counts_per_n * m * G0 + rng.normal(0, 20), m * G0) for m in kg]
    f = fit_force(points, tare_raw=tare, model="linear")
    assert f.scale_n_per_raw == pytest.approx(1 / counts_per_n, rel=0.02)
    assert f.raw_unit == "counts"
    assert f.fit_rms_n < 0.2 and f.fit_max_rel < 0.01
    assert f.newtons(tare + counts_per_n * 100.0) == pytest.approx(100.0, rel=0.02)
    assert isinstance(f.newtons(tare), float) and f.newtons(tare - 1000) == 0.0
    assert np.allclose(f.newtons(np.array([tare, tare + counts_per_n])), [0.0, 1.0], atol=0.05)


B_TRUE = 1 / 0.81  # FSR 402: log R falls 0.81 per decade of force (hardware.md §2)
A_TRUE = 10.0 / (1 / 1100.0) ** B_TRUE  # about 1.1 kOhm at 10 N


def fsr_volts(force_n, *, a=A_TRUE, b=B_TRUE, supply_v=3.3, divider_ohm=1000.0):
    """V_out of an FSR (to V+) over R_m (to GND) whose conductance follows F = a·G^b."""
    g = (np.asarray(force_n, dtype=float) / a) ** (1 / b)
    r_fsr = 1 / g
    return supply_v * divider_ohm / (divider_ohm + r_fsr)


def test_fsr_power_law():
    rng = np.random.default_rng(2)
    kg = [0.2, 0.5, 1.0, 2.0]
    forces = np.array(kg) * G0
    v = fsr_volts(forces) + rng.normal(0, 0.001, len(kg))  # 1 mV of ADC noise
    f = fit_force(list(zip(v, forces, strict=True)), tare_raw=0.0, model="fsr-power",
                  divider_ohm=1000.0)
    assert f.model == "fsr-power" and f.raw_unit == "V"
    assert f.b == pytest.approx(B_TRUE, rel=0.02)
    test_n = np.array([3.0, 8.0, 15.0])
    assert np.allclose(f.newtons(fsr_volts(test_n)), test_n, rtol=0.02)
    assert 0 < f.fit_rms_n < 0.1 and f.fit_max_rel < 0.02
    assert f.newtons(0.0) == 0.0


def test_fsr_tare_offset_is_removed():
    forces = np.array([1.0, 3.0, 9.0, 18.0])
    v = fsr_volts(forces) + 0.012  # ADC zero offset
    f = fit_force(list(zip(v, forces, strict=True)), tare_raw=0.012, model="fsr-power",
                  divider_ohm=1000.0)
    assert f.newtons(fsr_volts(5.0) + 0.012) == pytest.approx(5.0, rel=0.02)


def test_conductance_from_divider():
    # V_out = V+ * R_m / (R_m + R_fsr): with R_fsr = R_m the output is half the supply
    assert fsr_conductance_s(1.65, 3.3, 10_000.0) == pytest.approx(1e-4)
    assert fsr_conductance_s(-0.1, 3.3, 10_000.0) == 0.0


def test_bad_force_runs():
    with pytest.raises(CalibrationError, match="at least one known weight"):
        fit_force([(100.0, 0.0)], tare_raw=100.0, model="linear")
    with pytest.raises(CalibrationError, match="did not change under load"):
        fit_force([(100.0, 10.0)], tare_raw=100.0, model="linear")
    with pytest.raises(CalibrationError, match="at least two different known weights"):
        fit_force([(1.0, 10.0)], tare_raw=0.0, model="fsr-power")
    with pytest.raises(CalibrationError, match=r"no FSR reading under 20\.0 N"):
        fit_force([(1.0, 10.0), (0.0, 20.0)], tare_raw=0.0, model="fsr-power", divider_ohm=1000.0)


def test_raw_level_is_the_median_and_needs_readings():
    b = still(1.0, bias=[0, 0, 0], force=2.5)
    b.force_n[::50] = 99.0  # a few spikes do not move the median
    assert raw_level(b) == 2.5
    b.force_n[:] = np.nan
    with pytest.raises(CalibrationError, match="no readings from the force sensor"):
        raw_level(b)
