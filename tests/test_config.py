import pytest

from utils import config, runs


def test_profiles_have_the_sizes_and_budgets_of_the_design():
    smoke, standard, full = (config.PROFILES[n] for n in ("smoke", "standard", "full"))
    assert (smoke.n_train, smoke.n_val, smoke.n_test) == (2_000, 500, 1_000)
    assert smoke.epochs <= 2 and smoke.budget_seconds == 60
    assert (standard.n_train, standard.n_val, standard.n_test) == (
        10_000,
        5_000,
        10_000,
    )
    assert standard.budget_seconds == 8 * 60
    assert full.n_train is None and full.n_val == 5_000 and full.n_test is None


def test_profiles_say_how_many_seeds_a_repeated_run_uses():
    assert [config.PROFILES[n].seeds for n in ("smoke", "standard", "full")] == [
        2,
        3,
        3,
    ]


def test_profile_comes_from_the_environment_variable(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert config.get_profile().name == "smoke"
    assert config.get_profile("full").name == "full"  # an explicit name wins


def test_default_profile_is_standard(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert config.get_profile().name == "standard"


def test_unknown_profile_names_the_choices_and_the_fix(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError) as error:
        config.get_profile()
    assert "'fast'" in str(error.value)
    assert "smoke, standard, full" in str(error.value)
    assert "COURSE_PROFILE" in str(error.value)


def test_a_profile_that_is_not_a_name_is_refused_clearly():
    with pytest.raises(config.ProfileError) as error:
        config.get_profile(3)
    assert "not 3 (int)" in str(error.value) and "smoke, standard, full" in str(
        error.value
    )
    assert isinstance(error.value, ValueError)


def test_a_profile_error_shows_in_a_notebook_without_a_traceback():
    error = config.ProfileError("Unknown course profile 'x'.")
    assert error._render_traceback_() == ["ProfileError: Unknown course profile 'x'."]


def test_a_profile_object_is_returned_as_it_is():
    smoke = config.PROFILES["smoke"]
    assert config.get_profile(smoke) is smoke


def test_start_notebook_prints_the_profile_and_tells_the_run_store(capsys):
    profile = config.start_notebook("99_example", "smoke", seed=3)
    assert profile is config.PROFILES["smoke"]
    assert runs.current_notebook() == "99_example"
    assert runs.notebook_profile() is profile
    assert runs.index_path("99_example", "smoke").read_text().strip() == "[]"
    printed = capsys.readouterr().out
    assert "Profile 'smoke'" in printed and "2,000 train" in printed
    assert "seed 3" in printed and "2 seeds for repeated runs" in printed


def test_start_notebook_seeds_numpy_and_keras(capsys):
    import keras
    import numpy as np

    config.start_notebook("99_example", "smoke", seed=5)
    first = np.random.random(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))
    config.start_notebook("99_example", "smoke", seed=5)
    second = np.random.random(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_the_full_profile_trains_the_final_model_for_its_whole_budget():
    from utils import models

    assert config.PROFILES["full"].final_epochs == models.FINAL_TRAINING["epochs"]
    # shorter in the other profiles, so that 06 keeps to its time budget
    smoke, standard = config.PROFILES["smoke"], config.PROFILES["standard"]
    assert smoke.final_epochs < standard.final_epochs < models.FINAL_TRAINING["epochs"]
