import pytest

from utils import augmentation, bench, models, training

FAKE = {
    "date": "2026-01-01 00:00 UTC",
    "machine": {"cores": 2, "cpu": "Test CPU", "python": "3.11.7"},
    "versions": {"tensorflow": "2.21.0", "keras": "3.15.1"},
    "notebook_seconds": {
        "smoke": {"00_baseline": 9.6},
        "standard": {"00_baseline": 42.2},
    },
    "epoch": {"seconds_per_epoch": 1.31, "images": 10_000, "batch_size": 64},
    "augmentation": {"images_per_second": {"none": 7455.2, "inside the model": 6487.0}},
    "quantization": {
        "float32": {"bytes": 1_690_664, "test_accuracy": 0.8726, "latency_ms": 0.05},
        "int8": {"bytes": 432_896, "test_accuracy": 0.8736, "latency_ms": 0.0175},
        "int8_vs_float32": {
            "size_ratio": 0.256,
            "accuracy_change": 0.001,
            "latency_ratio": 0.35,
        },
    },
    "make_test": {"seconds": 240.3, "passed": True},
}


def test_bench_markdown_names_the_machine_and_shows_every_figure():
    text = bench.markdown(FAKE)
    assert "2 cores (Test CPU)" in text and "TensorFlow 2.21.0" in text
    assert "| 00_baseline | 10 | 42 |" in text
    assert "1.3 s per epoch on 10,000 images" in text
    assert "inside the model: 6,487" in text
    assert "| int8 | 432,896 | 0.8736 | 0.018 |" in text
    assert "size × 0.256" in text and "latency × 0.35" in text
    assert "`make test`: 240 s (passed)." in text


def test_bench_markdown_says_when_make_test_failed():
    failed = {**FAKE, "make_test": {"seconds": 10.0, "passed": False}}
    assert "(FAILED)" in bench.markdown(failed)


def test_bench_markdown_of_a_partial_run_has_only_what_was_measured():
    partial = {
        key: FAKE[key] for key in ("date", "machine", "versions", "notebook_seconds")
    }
    text = bench.markdown(partial)
    assert "Seconds per notebook" in text and "Quantisation" not in text


class FakeClock:
    """perf_counter for the epoch timer: epochs of 5, 2 and 4 seconds."""

    def __init__(self, durations):
        self.times = []
        now = 0.0
        for duration in durations:
            self.times += [now, now + duration]
            now += duration + 1.0

    def perf_counter(self):
        return self.times.pop(0)


@pytest.mark.parametrize("placement", bench.PLACEMENTS)
def test_throughput_is_images_per_second_of_the_median_epoch_after_the_first(
    placement, tiny_data, monkeypatch
):
    built = []
    real_build = models.build_cnn
    monkeypatch.setattr(
        models, "build_cnn", lambda *a, **kw: built.append(kw) or real_build(*a, **kw)
    )
    monkeypatch.setattr(training, "time", FakeClock([5.0, 2.0, 4.0]))
    rate = bench.training_throughput(tiny_data, ["flip"], placement, epochs=3)
    # the first epoch (tracing) is left out; the median of 2 s and 4 s is 3 s
    assert rate == pytest.approx(len(tiny_data.y_train) / 3.0)
    inside = list(built[0]["augmentation"])
    assert inside == (["flip"] if placement == "inside the model" else [])


def test_the_tf_data_placement_augments_in_the_pipeline(tiny_data, monkeypatch):
    piped = []
    real = augmentation.augmented_dataset
    monkeypatch.setattr(
        augmentation,
        "augmented_dataset",
        lambda *a, **kw: piped.append(a[2]) or real(*a, **kw),
    )
    bench.training_throughput(tiny_data, ["flip"], "tf.data pipeline", epochs=2)
    (augment,) = piped
    assert [type(layer).__name__ for layer in augment.layers] == ["RandomFlip"]


def test_throughput_refuses_an_unknown_placement_and_a_single_epoch(tiny_data):
    with pytest.raises(ValueError, match="placement"):
        bench.training_throughput(tiny_data, placement="gpu")
    with pytest.raises(ValueError, match="warms up"):
        bench.training_throughput(tiny_data, epochs=1)


SIDE = {
    "images": 55_000,
    "seed": 0,
    "error_rate_ratio": 1.62,
    "models": {
        "keras.io Simple MNIST convnet": {
            "parameters": 34_826,
            "epochs": 15,
            "seconds": 121.0,
            "val_accuracy": 0.9102,
            "test_accuracy": 0.9051,
            "curve": {"seconds": [8.0, 16.0], "test_accuracy": [0.85, 0.88]},
        },
        "course final model": {
            "parameters": 131_754,
            "epochs": 20,
            "seconds": 640.0,
            "val_accuracy": 0.9402,
            "test_accuracy": 0.9414,
            "curve": {"seconds": [30.0, 61.0], "test_accuracy": [0.86, 0.9]},
            "deployed": {
                "float32": {
                    "bytes": 6_960_000,
                    "test_accuracy": 0.9414,
                    "latency_ms": 0.4,
                },
                "int8": {
                    "bytes": 1_750_000,
                    "test_accuracy": 0.9410,
                    "latency_ms": 0.2,
                },
            },
        },
    },
}


def test_bench_markdown_shows_both_models_of_the_side_by_side_and_their_ratio():
    text = bench.markdown({**FAKE, "final_model": SIDE})
    assert "| keras.io Simple MNIST convnet | 34,826 | 15 | 121 | 0.9102 |" in text
    assert "| course final model | 131,754 | 20 | 640 | 0.9402 | 0.9414 |" in text
    assert "Error-rate ratio" in text and "1.62" in text
    assert "55,000 training images" in text
    assert "int8 1,750,000 bytes, test accuracy 0.9410, 0.200 ms per image" in text


def test_side_by_side_trains_both_models_in_one_run_and_records_curves(
    tiny_data, monkeypatch, tmp_path
):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "build"))
    short = {"epochs": 2, "batch_size": 64}
    monkeypatch.setattr(
        bench,
        "SIDE_BY_SIDE",
        {
            "peer": (models.build_keras_mnist_convnet, {**short, "schedule": None}),
            "final": (models.build_final_cnn, {**short, "optimizer": "adamw"}),
        },
    )
    side = bench.bench_final_model(tiny_data)
    peer, final = side["models"]["peer"], side["models"]["final"]
    for row in (peer, final):
        seconds = row["curve"]["seconds"]
        assert len(seconds) == len(row["curve"]["test_accuracy"]) == 2
        # cumulative training seconds, the last one the run's own total
        assert 0 < seconds[0] < seconds[1]
        assert seconds[1] == pytest.approx(row["seconds"])
        assert all(0 <= value <= 1 for value in row["curve"]["test_accuracy"])
    assert peer["parameters"] == 34_826
    assert "deployed" not in peer  # only the final model is converted
    assert set(final["deployed"]) == {"float32", "int8"}
    assert final["deployed"]["int8"]["bytes"] < final["deployed"]["float32"]["bytes"]
    assert side["error_rate_ratio"] == pytest.approx(
        (1 - peer["test_accuracy"]) / (1 - final["test_accuracy"])
    )
    bench.time_to_accuracy_figure(side, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 0
