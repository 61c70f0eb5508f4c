"""One name means one thing: the app's upload cap is not the evaluator's, and a bad value
is a clear SettingsError instead of a crash."""
import pytest

from evaluator.settings import SettingsError, load_settings


def test_the_apps_upload_cap_has_its_own_name():
    s = load_settings(env={"SONOBENCH_APP_MAX_UPLOAD_MB": "100"})
    assert s.app_max_upload_mb == 100 and s.max_upload_mb == 8192  # the evaluator's cap is untouched
    lowered = load_settings(env={"SONOBENCH_MAX_UPLOAD_MB": "100"})
    assert lowered.app_max_upload_mb == 256 and lowered.app_upload_mb == 100  # derived: never above it


@pytest.mark.parametrize("env,message", [
    ({"SONOBENCH_MAX_UPLOAD_MB": "100.5"}, "SONOBENCH_MAX_UPLOAD_MB: 'max_upload_mb' has an invalid value '100.5'"),
    ({"SONOBENCH_APP_MAX_UPLOAD_MB": "-1"}, "app_max_upload_mb must be a number of MB > 0"),
    ({"SONOBENCH_APP_MAX_UPLOAD_MB": "lots"}, "'app_max_upload_mb' has an invalid value 'lots'"),
    ({"SONOBENCH_APP_MAX_JOBS": "0"}, "app_max_jobs must be an integer >= 1"),
])
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)
