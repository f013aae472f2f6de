"""The run store: keys, atomic files, damaged files, the lock and the index."""

import subprocess
import sys
import time

import numpy as np
import pytest

from utils import config, runs


def test_the_key_ignores_key_order_and_changes_with_any_value():
    payload = {"config": {"dropout": 0.2, "l2": 0.0}, "seed": 0}
    same = {"seed": 0, "config": {"l2": 0.0, "dropout": 0.2}}
    assert runs.run_key(payload) == runs.run_key(same)
    assert runs.run_key(payload) != runs.run_key({**payload, "seed": 1})
    assert runs.run_key(payload) != runs.run_key(
        {**payload, "config": {"dropout": 0.3, "l2": 0.0}}
    )


def test_the_data_fingerprint_tells_apart_arrays_that_differ_in_one_value():
    images = np.zeros((4, 3, 3, 1), dtype="float32")
    changed = images.copy()
    changed[2, 1, 1, 0] = 1.0
    assert runs.data_fingerprint(images) == runs.data_fingerprint(images.copy())
    assert runs.data_fingerprint(images) != runs.data_fingerprint(changed)
    # a view that is not contiguous hashes like its contiguous copy
    strided = np.arange(20.0)[::2]
    assert runs.data_fingerprint(strided) == runs.data_fingerprint(strided.copy())


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    runs.write_text(path, "old\n")
    with pytest.raises(OSError, match="No space"):
        with runs.replacing(path) as temporary:
            temporary.write_text("half of the new")
            raise OSError(28, "No space left on device")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_write_file_renames_what_a_library_wrote(tmp_path):
    path = tmp_path / "weights.keras"

    def save(target):
        assert target.suffix == ".keras" and target != path
        target.write_bytes(b"model")

    runs.write_file(path, save)
    assert path.read_bytes() == b"model"


def test_a_missing_record_is_none_without_a_word(capsys):
    assert runs.load_record("0123456789abcdef") is None
    assert capsys.readouterr().out == ""


def test_a_truncated_record_counts_as_missing_with_one_line_naming_it(capsys):
    record = {"key": "0123456789abcdef", "test_accuracy": 0.9}
    path = runs.save_record(record)
    assert runs.load_record("0123456789abcdef") == record
    path.write_text(path.read_text()[:10])
    assert runs.load_record("0123456789abcdef") is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert "runs/0123456789abcdef.json cannot be read" in printed[0]
    assert "retraining the run" in printed[0]


def test_the_index_lists_runs_under_the_notebook_and_its_profile(capsys):
    for key in ("a" * 16, "b" * 16):
        runs.save_record({"key": key, "name": "as trained", "val_accuracy": 0.8})
    runs.add_to_index("a" * 16, "baseline")  # no notebook yet: not listed
    smoke = config.get_profile("smoke")
    runs.begin_notebook("99_example", smoke)
    assert runs.current_notebook() == "99_example"
    assert runs.notebook_profile() is smoke
    runs.add_to_index("a" * 16, "baseline")
    runs.add_to_index("b" * 16, "dropout")
    runs.add_to_index("a" * 16, "baseline")  # listed once
    runs.add_to_index("a" * 16, "control")  # the same run under a second name
    records = runs.indexed_records("99_example", "smoke")
    assert [r["name"] for r in records] == ["baseline", "dropout", "control"]
    assert [r["key"] for r in records] == ["a" * 16, "b" * 16, "a" * 16]
    assert runs.indexed_records("99_example", "standard") == []
    runs.begin_notebook("99_example", smoke)  # a new execution starts empty
    assert runs.indexed_records("99_example", "smoke") == []


def test_a_listed_run_whose_record_is_gone_is_left_out_with_a_line(capsys):
    runs.begin_notebook("99_example", config.get_profile("smoke"))
    runs.save_record({"key": "c" * 16, "val_accuracy": 0.8})
    runs.add_to_index("c" * 16, "kept")
    runs.add_to_index("d" * 16, "lost")
    capsys.readouterr()
    assert [r["name"] for r in runs.indexed_records("99_example", "smoke")] == ["kept"]
    assert "run 'lost' is listed but its record is gone" in capsys.readouterr().out


def test_a_damaged_index_counts_as_empty(capsys):
    runs.begin_notebook("99_example", config.get_profile("smoke"))
    runs.index_path("99_example", "smoke").write_text('[{"name": ')
    assert runs.indexed_records("99_example", "smoke") == []
    assert "Run index" in capsys.readouterr().out


def test_a_second_process_waits_for_the_lock_of_the_same_run(isolated_results):
    script = (
        "import time; from utils import runs\n"
        "with runs.locked('e' * 16):\n"
        "    print('got it', time.time(), flush=True)\n"
    )
    with runs.locked("e" * 16):
        waiter = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert waiter.poll() is None, "the second process did not wait"
        released = time.time()
    output, _ = waiter.communicate(timeout=60)
    assert "Another process is training this run; waiting" in output
    got_it = float(output.split("got it")[1])
    assert got_it >= released


def test_machine_description_names_cores_and_python():
    machine = runs.machine_description()
    assert machine["cores"] >= 1 and machine["python"].count(".") == 2
