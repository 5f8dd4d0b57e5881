from __future__ import annotations

import pytest

from prescreen.settings import Settings, SettingsError


def test_settings_are_read_from_prefixed_environment_variables() -> None:
    settings = Settings.from_env({"PRESCREEN_TABLE_NAME": "t1", "PRESCREEN_MAX_BODY_BYTES": "4096",
                                  "AWS_REGION": "eu-central-1"})
    assert (settings.table_name, settings.max_body_bytes, settings.aws_region) == ("t1", 4096, "eu-central-1")


def test_a_wide_replay_window_is_refused_outside_the_local_stage() -> None:
    with pytest.raises(SettingsError, match="only allowed when stage is 'local'"):
        Settings.from_env({"PRESCREEN_STAGE": "prod", "PRESCREEN_SIGNATURE_TOLERANCE_SECONDS": "86400",
                           "PRESCREEN_MARKETPLACES_PARAMETER_PREFIX": "/p"})


def test_a_deployed_stage_needs_a_marketplace_source() -> None:
    with pytest.raises(SettingsError, match="marketplaces_parameter_prefix"):
        Settings.from_env({"PRESCREEN_STAGE": "prod"})


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PRESCREEN_MAX_BODY_BYTES"):
        Settings.from_env({"PRESCREEN_MAX_BODY_BYTES": "lots"})
