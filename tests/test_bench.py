from utils import bench

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
