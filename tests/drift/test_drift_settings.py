"""The ``DOJO_DRIFT_*`` thresholds are the detector's calibrated ones, declared once."""

from __future__ import annotations

from dojo.config import Settings
from dojo.drift import DriftConfig
from dojo.drift.config import drift_config

#: the detector's thresholds a setting overrides (the window's own settings size live
#: windows, which are not the calibration's)
THRESHOLDS = (
    "reference_windows",
    "reference_min_pairs",
    "min_pairs",
    "psi_threshold",
    "ks_coefficient",
    "rank_drop_z",
    "ph_threshold",
)


def test_every_threshold_setting_defaults_to_the_calibrated_value_and_bounds() -> None:
    settings = {
        name.removeprefix("drift_")
        for name in Settings.model_fields
        if name.startswith("drift_") and name != "drift_window"
    }
    assert settings & set(DriftConfig.model_fields) == set(THRESHOLDS)
    for name in THRESHOLDS:
        setting, calibrated = Settings.model_fields[f"drift_{name}"], DriftConfig.model_fields[name]
        assert setting.default == calibrated.default, name
        assert setting.metadata == calibrated.metadata, name  # the same bounds


def test_the_default_settings_give_the_calibrated_detector() -> None:
    defaults = Settings.model_construct()  # no DOJO_* variable of this machine's
    config, calibrated = drift_config(defaults), DriftConfig()
    for name in THRESHOLDS:
        assert getattr(config, name) == getattr(calibrated, name), name
