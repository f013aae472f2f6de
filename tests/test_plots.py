import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from utils import plots  # noqa: E402

HISTORY = {"accuracy": [0.5, 0.7, 0.9], "val_accuracy": [0.5, 0.6, 0.6]}


def test_learning_curves_draw_train_and_validation_for_every_run():
    figure = plots.learning_curves({"baseline": HISTORY, "dropout": HISTORY})
    axis = figure.axes[0]
    labels = [line.get_label() for line in axis.get_lines()]
    assert labels == [
        "baseline (train)",
        "baseline (validation)",
        "dropout (train)",
        "dropout (validation)",
    ]
    assert list(axis.get_lines()[1].get_ydata()) == HISTORY["val_accuracy"]


def test_comparison_bars_draw_one_bar_per_run_and_metric():
    record = {"train_accuracy": 0.9, "test_accuracy": 0.8}
    figure = plots.comparison_bars(
        {"a": record, "b": record}, metrics=("train_accuracy", "test_accuracy")
    )
    assert len(figure.axes[0].patches) == 4


def test_examples_per_class_shows_one_column_per_class():
    images = np.random.default_rng(0).random((100, 28, 28, 1))
    labels = np.repeat(np.arange(10), 10)
    figure = plots.examples_per_class(images, labels, [str(i) for i in range(10)], 3)
    titled = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titled) == 30
    assert titled[:10] == [str(i) for i in range(10)]


def test_confusion_matrix_plot_writes_every_count():
    matrix = np.array([[3, 1], [0, 4]])
    figure = plots.confusion_matrix(matrix, ["a", "b"])
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["3", "1", "0", "4"]
