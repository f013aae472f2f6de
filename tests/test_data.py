import gzip
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from utils import data
from utils.config import PROFILES, REPO_ROOT
from utils.data import Dataset, DatasetError


def copy_fashion_mnist(target):
    """Copy the four real files into ``target`` and return the folder."""
    located = data.find_fashion_mnist()
    assert located is not None, "Fashion-MNIST must be installed: run `make data`"
    target.mkdir(parents=True, exist_ok=True)
    for path in located[1].values():
        shutil.copy(path, target / path.name)
    return target


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    folder = copy_fashion_mnist(tmp_path / "fashion")
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def no_user_data_dir(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)


def labels_file(folder):
    return next(folder.glob("train-labels-idx1-ubyte*"))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_course_data_dir_is_looked_at_first(data_copy):
    source, paths = data.find_fashion_mnist()
    assert source.startswith("COURSE_DATA_DIR")
    assert all(path.parent == data_copy for path in paths.values())


def test_truncated_file_in_the_users_folder_says_to_replace_that_file(data_copy):
    path = labels_file(data_copy)
    truncate(path)
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert path.name in message and "truncated" in message
    assert f"replace {path.name} with the original file" in message
    assert "zalandoresearch/fashion-mnist" in message
    # the user's own folder: reinstalling a Debian package would not fix it
    assert "apt-get" not in message and "dataset-fashion-mnist`" not in message


def test_truncated_file_in_debians_folder_says_to_reinstall_the_package(
    tmp_path, monkeypatch, no_user_data_dir
):
    debian = copy_fashion_mnist(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    path = labels_file(debian)
    truncate(path)
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert path.name in message
    assert "sudo apt-get install --reinstall dataset-fashion-mnist" in message
    assert "COURSE_DATA_DIR" not in message


def test_truncated_file_in_the_keras_cache_says_to_delete_it_and_download_again(
    tmp_path, monkeypatch, no_user_data_dir
):
    cache = copy_fashion_mnist(tmp_path / "keras-cache")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", cache)
    path = labels_file(cache)
    truncate(path)
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert f"Delete {path} and run `make data`" in message
    assert "apt-get" not in message


def test_file_with_one_flipped_byte_is_refused_by_its_checksum(data_copy):
    path = labels_file(data_copy)
    raw = bytearray(
        gzip.decompress(path.read_bytes())
        if path.suffix == ".gz"
        else path.read_bytes()
    )
    raw[5000] ^= 0x01  # one label changes: the file still parses
    path.unlink()
    plain = data_copy / "train-labels-idx1-ubyte"
    plain.write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert "train-labels-idx1-ubyte" in message and "SHA-256" in message
    assert "replace train-labels-idx1-ubyte with the original file" in message


def test_flipped_byte_inside_the_gzip_is_refused(data_copy):
    path = next(data_copy.glob("t10k-labels-idx1-ubyte*"))
    if path.suffix != ".gz":
        path.write_bytes(gzip.compress(path.read_bytes()))
        path = path.rename(path.with_name(path.name + ".gz"))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError) as error:
        data.read_idx_bytes(path)
    assert path.name in str(error.value)


def test_swapped_file_is_refused(data_copy):
    """Test labels put in place of training labels: valid IDX, wrong checksum."""
    train = labels_file(data_copy)
    test = next(data_copy.glob("t10k-labels-idx1-ubyte*"))
    shutil.copy(test, train)
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte"):
        data.load_dataset("fashion_mnist", "smoke")


def test_folder_missing_one_file_names_it(data_copy):
    next(data_copy.glob("t10k-images-idx3-ubyte*")).unlink()
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    assert "t10k-images-idx3-ubyte is missing" in str(error.value)


def test_empty_course_data_dir_is_an_error_not_ignored(monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", "")
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert "COURSE_DATA_DIR is set but empty" in message
    assert "unset COURSE_DATA_DIR" in message and "train-images-idx3-ubyte" in message


def test_course_data_dir_that_does_not_exist_is_named_not_skipped(
    tmp_path, monkeypatch
):
    missing = tmp_path / "fashoin-mnist"  # a typo
    monkeypatch.setenv("COURSE_DATA_DIR", str(missing))
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert f"COURSE_DATA_DIR={missing} does not exist" in message
    assert "unset COURSE_DATA_DIR" in message


def test_course_data_dir_that_is_a_file_is_refused(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "train-images-idx3-ubyte.gz"
    not_a_folder.write_bytes(b"")
    monkeypatch.setenv("COURSE_DATA_DIR", str(not_a_folder))
    with pytest.raises(DatasetError, match="is not a folder"):
        data.find_fashion_mnist()


def test_course_data_dir_without_the_files_says_which_files_it_needs(
    tmp_path, monkeypatch
):
    folder = tmp_path / "my-data"
    folder.mkdir()
    (folder / "notes.txt").write_text("not the data")
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke", allow_download=False)
    message = str(error.value)
    assert f"COURSE_DATA_DIR={folder} holds none of the Fashion-MNIST files" in message
    for stem in data.FASHION_MNIST_SHA256:
        assert f"{stem}.gz" in message


def test_make_data_prints_one_line_and_fails_for_a_bad_course_data_dir(tmp_path):
    """`make data` runs scripts/get-data.sh: a user error is one line, no traceback."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COURSE_DATA_DIR": str(tmp_path / "missing"),
    }
    completed = subprocess.run(
        ["bash", "scripts/get-data.sh", sys.executable],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""  # nothing installed for the user's own folder
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "COURSE_DATA_DIR=" in lines[0] and "does not exist" in lines[0]


def test_dataset_error_shows_as_its_message_without_a_traceback_in_ipython(
    tmp_path,
):
    code = (
        "from utils.data import DatasetError\n"
        "def load():\n"
        "    raise DatasetError('the data is missing: run `make data`.')\n"
        "load()"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--colors=NoColor", "-c", code],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    shown = (completed.stdout + completed.stderr).strip()
    assert shown == "DatasetError: the data is missing: run `make data`."


def test_no_data_anywhere_and_no_download_says_how_to_get_it(
    tmp_path, monkeypatch, no_user_data_dir
):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(data, "KERAS_CACHE_DIR", tmp_path / "no-cache")
    with pytest.raises(DatasetError, match="make data"):
        data.load_dataset("fashion_mnist", "smoke", allow_download=False)


def test_uncompressed_files_load_like_the_gzipped_ones(tmp_path, monkeypatch):
    located = data.find_fashion_mnist()
    folder = tmp_path / "plain"
    folder.mkdir()
    for stem, path in located[1].items():
        (folder / stem).write_bytes(data.read_idx_bytes(path))
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    plain = data.load_dataset("fashion_mnist", "smoke")
    monkeypatch.delenv("COURSE_DATA_DIR")
    default = data.load_dataset("fashion_mnist", "smoke")
    assert np.array_equal(plain.x_train, default.x_train)
    assert np.array_equal(plain.y_test, default.y_test)


def test_smoke_splits_have_the_profile_sizes_shapes_and_range(smoke_data):
    assert smoke_data.x_train.shape == (2_000, 28, 28, 1)
    assert smoke_data.x_val.shape == (500, 28, 28, 1)
    assert smoke_data.x_test.shape == (1_000, 28, 28, 1)
    assert smoke_data.x_train.dtype == np.float32
    assert 0.0 <= smoke_data.x_train.min() and smoke_data.x_train.max() <= 1.0
    assert smoke_data.x_train.max() > 0.99  # scaled by 255, not left in [0, 255]
    assert smoke_data.class_names[0] == "T-shirt/top" and smoke_data.num_classes == 10


def original_indices(images, originals):
    """Where each image sits in ``originals`` (Fashion-MNIST's images are unique)."""
    where = {image.tobytes(): index for index, image in enumerate(originals)}
    pixels = np.round(images[..., 0] * 255).astype(np.uint8)
    return [where.get(image.tobytes()) for image in pixels]


def test_validation_is_carved_from_train_and_never_overlaps_it(smoke_data):
    """Each image is found in the original splits by its pixels, not re-derived."""
    (x_all, y_all), (x_test_all, y_test_all), _ = data.load_fashion_mnist_arrays(
        allow_download=False
    )
    train_idx = original_indices(smoke_data.x_train, x_all)
    val_idx = original_indices(smoke_data.x_val, x_all)
    test_idx = original_indices(smoke_data.x_test, x_test_all)
    assert None not in train_idx and None not in val_idx, "not from the training split"
    assert None not in test_idx, "the test subset holds images from elsewhere"
    assert len(set(train_idx)) == 2_000 and len(set(val_idx)) == 500
    assert not set(val_idx) & set(train_idx)
    # each label travelled with its image
    assert np.array_equal(smoke_data.y_train, y_all[train_idx])
    assert np.array_equal(smoke_data.y_val, y_all[val_idx])
    assert np.array_equal(smoke_data.y_test, y_test_all[test_idx])
    # exact scaling by 255: the pixels round-trip
    assert np.array_equal(smoke_data.x_val[..., 0] * 255, x_all[val_idx])


def test_subsets_are_stratified(smoke_data):
    for labels, size in ((smoke_data.y_train, 2_000), (smoke_data.y_val, 500)):
        counts = np.bincount(labels, minlength=10)
        assert counts.sum() == size
        assert counts.max() - counts.min() <= 1  # Fashion-MNIST classes are balanced


def test_stratified_indices_keep_unbalanced_proportions():
    labels = np.array([0] * 900 + [1] * 100)
    chosen = data.stratified_indices(labels, 100, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [90, 10]


def test_subsets_are_deterministic_and_depend_on_the_seed():
    labels = np.repeat(np.arange(10), 100)
    first = data.stratified_indices(labels, 50, seed=7)
    assert np.array_equal(first, data.stratified_indices(labels, 50, seed=7))
    assert not np.array_equal(first, data.stratified_indices(labels, 50, seed=8))


def test_asking_for_more_examples_than_exist_is_an_error():
    with pytest.raises(ValueError, match="Cannot take 20"):
        data.stratified_indices(np.zeros(10), 20, seed=0)


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.load_dataset("imagenet", "smoke")


def hand_built(n_train=12, n_val=4, n_test=6, **kwargs):
    rng = np.random.default_rng(0)
    return Dataset(
        name="toy",
        x_train=rng.random((n_train, 8, 8, 1), dtype=np.float32),
        y_train=np.arange(n_train) % 2,
        x_val=rng.random((n_val, 8, 8, 1), dtype=np.float32),
        y_val=np.arange(n_val) % 2,
        x_test=rng.random((n_test, 8, 8, 1), dtype=np.float32),
        y_test=np.arange(n_test) % 2,
        class_names=("even", "odd"),
        source="hand-built",
        **kwargs,
    )


def test_hand_built_dataset_gets_a_custom_profile_of_its_own_sizes():
    toy = hand_built(n_train=12, n_val=4, n_test=6)
    assert toy.profile.name == "custom"
    assert (toy.profile.n_train, toy.profile.n_val, toy.profile.n_test) == (12, 4, 6)
    # training settings come from the standard profile
    assert toy.profile.epochs == PROFILES["standard"].epochs == 40
    assert toy.profile.batch_size == PROFILES["standard"].batch_size == 64


def test_a_profile_name_is_turned_into_the_profile_for_older_code():
    assert hand_built(profile="smoke").profile is PROFILES["smoke"]
    assert hand_built(profile="custom").profile.n_train == 12


def test_a_dataset_keeps_the_profile_object_it_was_given():
    mine = replace(PROFILES["smoke"], epochs=1)
    assert hand_built(profile=mine).profile is mine


def test_a_profile_that_is_neither_a_profile_nor_a_name_is_refused():
    with pytest.raises(ValueError, match="smoke"):
        hand_built(profile=3)
    with pytest.raises(ValueError, match="smoke"):
        data.load_dataset("fashion_mnist", 3)


def test_unknown_profile_name_in_a_dataset_is_refused():
    with pytest.raises(ValueError, match="Unknown course profile 'tiny'"):
        hand_built(profile="tiny")


def test_loaded_data_carries_its_profile_object(smoke_data):
    assert smoke_data.profile == PROFILES["smoke"]


def test_a_profile_object_sets_the_split_sizes_when_loading():
    small = replace(PROFILES["smoke"], name="small", n_train=300, n_val=100, n_test=50)
    loaded = data.load_dataset("fashion_mnist", small, seed=3)
    assert loaded.profile is small
    sizes = (len(loaded.y_train), len(loaded.y_val), len(loaded.y_test))
    assert sizes == (300, 100, 50)


def test_smaller_training_set_keeps_the_notebooks_profile(smoke_data):
    smaller = data.with_train_size(smoke_data, 500)
    assert len(smaller.y_train) == 500 and smaller.profile is smoke_data.profile
    assert smaller.x_val is smoke_data.x_val and smaller.x_test is smoke_data.x_test


def test_smaller_hand_built_training_set_updates_its_custom_sizes():
    smaller = data.with_train_size(hand_built(n_train=12), 6)
    assert smaller.profile.name == "custom" and smaller.profile.n_train == 6
    assert len(smaller.y_train) == 6
