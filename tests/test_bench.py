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
