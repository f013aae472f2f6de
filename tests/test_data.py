import gzip
import shutil

import numpy as np
import pytest

from utils import data
from utils.data import DatasetError


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


def labels_file(folder):
    return next(folder.glob("train-labels-idx1-ubyte*"))


def test_course_data_dir_is_looked_at_first(data_copy):
    source, paths = data.find_fashion_mnist()
    assert source.startswith("COURSE_DATA_DIR")
    assert all(path.parent == data_copy for path in paths.values())


def test_truncated_file_is_refused_with_its_name_and_the_fix(data_copy):
    path = labels_file(data_copy)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError) as error:
        data.load_dataset("fashion_mnist", "smoke")
    message = str(error.value)
    assert path.name in message
    assert "make data" in message and "dataset-fashion-mnist" in message


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
    assert "make data" in message


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


def test_no_data_anywhere_and_no_download_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
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


def test_validation_is_carved_from_train_and_never_overlaps_it(smoke_data):
    (x_all, y_all), _, _ = data.load_fashion_mnist_arrays(allow_download=False)
    val_idx = data.stratified_indices(y_all, 500, seed=0)
    train_idx = data.stratified_indices(y_all, 2_000, seed=1, exclude=val_idx)
    assert not set(val_idx) & set(train_idx)
    assert np.array_equal(smoke_data.x_val[..., 0] * 255, x_all[val_idx])
    assert np.array_equal(smoke_data.x_train[..., 0] * 255, x_all[train_idx])


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
