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


def test_learning_curves_can_draw_validation_only():
    figure = plots.learning_curves({"a": HISTORY, "b": HISTORY}, validation_only=True)
    axis = figure.axes[0]
    assert [line.get_label() for line in axis.get_lines()] == ["a", "b"]
    assert list(axis.get_lines()[0].get_ydata()) == HISTORY["val_accuracy"]


def test_augmentation_grid_has_one_labelled_row_per_augmentation():
    images = np.random.default_rng(0).random((4, 28, 28, 1))
    figure = plots.augmentation_grid(
        images, {"flip": images[:, :, ::-1], "noise": images}
    )
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert labels == ["original", "flip", "noise"]
    assert len(figure.axes) == 12


def test_accuracy_vs_size_draws_one_line_per_series():
    figure = plots.accuracy_vs_size([500, 2000], {"a": [0.7, 0.8], "b": [0.75, 0.82]})
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[1].get_ydata()) == [0.75, 0.82]


def test_accuracy_vs_bits_draws_each_series_and_the_float_reference():
    figure = plots.accuracy_vs_bits(
        [8, 4, 2], {"per tensor": [0.9, 0.8, 0.1]}, reference=0.91
    )
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["per tensor", "float32"]
    assert list(lines[0].get_ydata()) == [0.9, 0.8, 0.1]


def test_metric_panels_draw_one_panel_per_metric_and_one_bar_per_row():
    rows = {"float32": {"bytes": 100, "ms": 2.0}, "int8": {"bytes": 25, "ms": 1.0}}
    figure = plots.metric_panels(rows, {"bytes": "size", "ms": "latency"})
    assert [ax.get_title() for ax in figure.axes] == ["size", "latency"]
    assert [bar.get_height() for bar in figure.axes[0].patches] == [100, 25]


def test_technique_changes_draws_classes_and_images_and_reads_them():
    from types import SimpleNamespace

    from utils import evaluation

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 200)
    base = rng.random(400) < 0.8

    def records(hits_per_seed):
        return [
            {
                "seed": seed,
                "test_accuracy": float(hits.mean()),
                "correct": {
                    "test_accuracy": evaluation.pack_correct(
                        np.ones(400, dtype=int), hits.astype(int)
                    )
                },
            }
            for seed, hits in enumerate(hits_per_seed)
        ]

    improved = base.copy()
    improved[:200] = True  # class "a" all right: a clear gain
    data = SimpleNamespace(
        y_test=y, x_test=rng.random((400, 28, 28, 1)), class_names=["a", "b"]
    )
    figures, reading = plots.technique_changes(
        records([base, base]), records([improved, improved]), data, "the variant"
    )
    assert len(figures) == 2  # per class, and the images fixed (none broken)
    assert [t.get_text() for t in figures[0].axes[0].get_yticklabels()] == ["a", "b"]
    assert "more than which of their test images explain: a (+" in reading
    assert "b (" not in reading  # class b did not change
    _, unchanged = plots.technique_changes(
        records([base]), records([base]), data, "the variant"
    )
    assert "No class changed" in unchanged
