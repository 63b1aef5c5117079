"""The ``DOJO_DRIFT_*`` thresholds are the detector's calibrated ones, declared once."""

from __future__ import annotations

from dojo.config import Settings
from dojo.drift import DriftConfig
from dojo.drift.config import DriftSettings, DriftThresholds

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
    assert Settings.model_fields["drift"].annotation is DriftSettings  # settings.drift
    settings = {name for name in DriftSettings.model_fields if name != "window"}
    assert (
        settings & set(DriftConfig.model_fields)
        == set(THRESHOLDS)
        == set(DriftThresholds.model_fields)
    )
    for name in THRESHOLDS:
        setting, calibrated = DriftSettings.model_fields[name], DriftConfig.model_fields[name]
        assert setting.default == calibrated.default, name
        assert setting.metadata == calibrated.metadata, name  # the same bounds
        assert setting.description == calibrated.description, name


def test_the_default_settings_give_the_calibrated_detector() -> None:
    defaults = Settings.model_construct()  # no DOJO_* variable of this machine's
    config, calibrated = defaults.drift.config(), DriftConfig()
    for name in THRESHOLDS:
        assert getattr(config, name) == getattr(calibrated, name), name
