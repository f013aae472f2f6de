"""Shared fixtures: a temporary results folder and small, real Fashion-MNIST data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils import runs  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_results(tmp_path, monkeypatch):
    """Every test writes run records to its own folder, never to results/."""
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    runs.end_notebook()
    return tmp_path / "results"


@pytest.fixture(scope="session")
def smoke_data():
    """The smoke-profile split of the real data."""
    from utils import data

    return data.load_dataset("fashion_mnist", "smoke", seed=0)


@pytest.fixture(scope="session")
def tiny_data(smoke_data):
    """A few hundred smoke images: enough to train one quick epoch in tests."""
    from utils.data import Dataset

    return Dataset(
        name="fashion_mnist",
        x_train=smoke_data.x_train[:384],
        y_train=smoke_data.y_train[:384],
        x_val=smoke_data.x_val[:128],
        y_val=smoke_data.y_val[:128],
        x_test=smoke_data.x_test[:128],
        y_test=smoke_data.y_test[:128],
        class_names=smoke_data.class_names,
        source=smoke_data.source,
        profile="smoke",
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)
