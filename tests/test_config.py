import pytest

from utils import config


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


def test_start_notebook_prints_the_profile_and_records_the_notebook(capsys):
    profile = config.start_notebook("99_example", "smoke", seed=3)
    assert profile.name == "smoke"
    assert config.current_notebook() == "99_example"
    printed = capsys.readouterr().out
    assert "Profile 'smoke'" in printed and "2,000 train" in printed
    assert "seed 3" in printed
