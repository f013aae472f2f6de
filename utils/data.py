"""Datasets: offline Fashion-MNIST with checksums, stratified subsets (00_baseline).

``load_dataset("fashion_mnist", profile)`` looks for the four IDX files in
``$COURSE_DATA_DIR``, then Debian's ``dataset-fashion-mnist`` folder, then the
Keras cache, and only then downloads them through Keras. Every file is checked
against its SHA-256 before a single image is used. A ``COURSE_DATA_DIR`` that is
set is the only place looked at: when it is empty, missing or incomplete, the
error says so rather than quietly using another copy.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from utils.config import PROFILES, Profile, get_profile

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# SHA-256 of the decompressed IDX bytes (the same for .gz and plain files).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}
DATA_DIR_ENV = "COURSE_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
DATA_FIX = (
    "Run `make data` (it installs Debian's dataset-fashion-mnist or lets Keras "
    "download the files), or point COURSE_DATA_DIR at a folder with the four "
    "original Fashion-MNIST IDX files."
)
ORIGINAL_SOURCE = "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)"
FILE_NAMES = ", ".join(f"{stem}.gz" for stem in FASHION_MNIST_SHA256)


class DatasetError(RuntimeError):
    """The data is missing or not what it should be; the message says how to fix it.

    A user's error, not the course's: a notebook shows the message alone, without
    a traceback (IPython calls ``_render_traceback_``), and ``make data`` prints
    it as one line.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def custom_profile(n_train: int, n_val: int, n_test: int) -> Profile:
    """The profile of hand-built data: its own sizes, the standard training budget."""
    return replace(
        PROFILES["standard"],
        name="custom",
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        purpose="hand-built data: its own sizes, the standard epochs and batch size",
    )


@dataclass
class Dataset:
    """Train, validation and test splits: float32 images in [0, 1], (N, H, W, C)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    # The profile the data was loaded with; a name is looked up, and hand-built
    # data without one gets `custom_profile` of its own sizes.
    profile: Profile | str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.profile is None or self.profile == "custom":
            self.profile = custom_profile(
                len(self.x_train), len(self.x_val), len(self.x_test)
            )
        else:
            self.profile = get_profile(self.profile)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> str:
        return (
            f"{self.name} from {self.source}: train {self.x_train.shape}, "
            f"val {self.x_val.shape}, test {self.x_test.shape}, "
            f"{self.num_classes} classes"
        )


def _user_data_dir() -> Path | None:
    """The folder ``$COURSE_DATA_DIR`` names, checked; None when it is not set."""
    if DATA_DIR_ENV not in os.environ:
        return None
    value = os.environ[DATA_DIR_ENV].strip()
    unset = f"or unset it (`unset {DATA_DIR_ENV}`) to use the installed data."
    if not value:
        raise DatasetError(
            f"{DATA_DIR_ENV} is set but empty: set it to a folder holding the four "
            f"Fashion-MNIST files ({FILE_NAMES}), {unset}"
        )
    folder = Path(value).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DatasetError(
            f"{DATA_DIR_ENV}={value} {what}: set it to a folder holding the four "
            f"Fashion-MNIST files ({FILE_NAMES}), {unset}"
        )
    return folder


def _candidate_dirs() -> list[tuple[str, Path]]:
    """Where to look, in order; a set ``COURSE_DATA_DIR`` is the only place."""
    user_dir = _user_data_dir()
    if user_dir is not None:
        return [(DATA_DIR_ENV, user_dir)]
    return [
        ("Debian package dataset-fashion-mnist", DEBIAN_DIR),
        ("the Keras cache", KERAS_CACHE_DIR),
    ]


def _same_folder(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False


def _fix_for(folder: Path, name: str) -> str:
    """How to replace the damaged or missing file ``name`` in ``folder``."""
    if _same_folder(folder, DEBIAN_DIR):
        return (
            "Reinstall the data: `sudo apt-get install --reinstall "
            "dataset-fashion-mnist`, or `make data`."
        )
    if _same_folder(folder, KERAS_CACHE_DIR):
        return (
            f"Delete {folder / name} and run `make data`: Keras downloads the file "
            f"again."
        )
    return (
        f"This folder is yours ({DATA_DIR_ENV}): replace {name} with the original "
        f"file from {ORIGINAL_SOURCE}, or unset {DATA_DIR_ENV} to use the "
        f"installed data."
    )


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_bytes(path: Path) -> bytes:
    """Read an IDX file, gzip-compressed or not, and verify its SHA-256."""
    path = Path(path)
    stem = path.name.removesuffix(".gz")
    if stem not in FASHION_MNIST_SHA256:
        raise DatasetError(f"{path}: not one of the Fashion-MNIST IDX files.")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (EOFError, OSError, zlib.error) as error:
        raise DatasetError(
            f"{path} is damaged ({error}): it is truncated or corrupted, so no "
            f"model will train on it. {_fix_for(path.parent, path.name)}"
        ) from error
    digest = hashlib.sha256(raw).hexdigest()
    if digest != FASHION_MNIST_SHA256[stem]:
        raise DatasetError(
            f"{path} does not match the published Fashion-MNIST file (SHA-256 "
            f"{digest[:12]}… instead of {FASHION_MNIST_SHA256[stem][:12]}…): it "
            f"is truncated, altered or another dataset, so no model will train on "
            f"it. {_fix_for(path.parent, path.name)}"
        )
    return raw


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode IDX bytes (magic, dims, then unsigned bytes) into a uint8 array."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError("Not an IDX file of unsigned bytes.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if array.size != int(np.prod(shape)):
        raise DatasetError(f"IDX header says {shape} but holds {array.size} values.")
    return array.reshape(shape)


def find_fashion_mnist() -> tuple[str, dict[str, Path]] | None:
    """Return (source, {stem: path}) of the first folder holding the files."""
    for description, folder in _candidate_dirs():
        found = {stem: _find_file(folder, stem) for stem in FASHION_MNIST_SHA256}
        present = {stem: path for stem, path in found.items() if path is not None}
        if not present and description == DATA_DIR_ENV:
            raise DatasetError(
                f"{DATA_DIR_ENV}={folder} holds none of the Fashion-MNIST files: "
                f"copy the four files ({FILE_NAMES}) there, from "
                f"{ORIGINAL_SOURCE}, or unset {DATA_DIR_ENV} to use the installed "
                f"data."
            )
        if not present:
            continue
        missing = sorted(set(FASHION_MNIST_SHA256) - set(present))
        if missing:
            names = ", ".join(missing)
            raise DatasetError(
                f"{folder} ({description}) holds only part of Fashion-MNIST: "
                f"{names} {'is' if len(missing) == 1 else 'are'} missing. "
                f"{_fix_for(folder, names)}"
            )
        return f"{description} ({folder})", present
    return None


def load_fashion_mnist_arrays(allow_download: bool = True):
    """Return ((x_train, y_train), (x_test, y_test)) as uint8 arrays, and the source."""
    located = find_fashion_mnist()
    if located is None:
        if not allow_download:
            raise DatasetError(
                f"Fashion-MNIST was not found on this machine. {DATA_FIX}"
            )
        _download_fashion_mnist()
        located = find_fashion_mnist()
        if located is None:
            raise DatasetError(f"Downloading Fashion-MNIST did not work. {DATA_FIX}")
    source, paths = located
    arrays = {stem: parse_idx(read_idx_bytes(path)) for stem, path in paths.items()}
    train = (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"])
    test = (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"])
    return train, test, source


def _download_fashion_mnist() -> None:
    import keras

    print("Fashion-MNIST not found locally; downloading it through Keras…")
    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # the network is the usual culprit
        raise DatasetError(
            f"Could not download Fashion-MNIST ({error}). {DATA_FIX}"
        ) from error


def _load_keras_dataset(name: str):
    import keras

    loader = {"mnist": keras.datasets.mnist, "cifar10": keras.datasets.cifar10}[name]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:
        raise DatasetError(
            f"Could not load {name} through Keras ({error}). It needs a download; "
            f"use 'fashion_mnist', which works offline."
        ) from error
    return (
        (x_train, y_train.reshape(-1)),
        (x_test, y_test.reshape(-1)),
        "Keras download",
    )


def stratified_indices(
    labels: np.ndarray, n: int, seed: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Pick ``n`` indices with the class proportions of ``labels``, reproducibly.

    Each class gets its share (largest remainders break ties); the same labels,
    ``n`` and ``seed`` always give the same indices, sorted.
    """
    labels = np.asarray(labels).reshape(-1)
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[np.asarray(exclude, dtype=int)] = False
    pool = np.flatnonzero(available)
    if not 0 < n <= len(pool):
        raise ValueError(f"Cannot take {n} examples from {len(pool)} available.")
    classes, counts = np.unique(labels[pool], return_counts=True)
    exact = counts * n / len(pool)
    take = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - take), kind="stable")
    take[remainder_order[: n - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for cls, k in zip(classes, take):
        members = pool[labels[pool] == cls]
        chosen.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(chosen))


def _to_float_images(images: np.ndarray) -> np.ndarray:
    images = images.astype("float32") / 255.0
    if images.ndim == 3:
        images = images[..., None]
    return images


def load_dataset(
    name: str = "fashion_mnist",
    profile: Profile | str | None = None,
    seed: int = 0,
    allow_download: bool = True,
) -> Dataset:
    """Load a dataset split into train / validation / test for a profile.

    Validation is carved from the training split (the test split is never used
    for choices); train, validation and test are stratified subsets whose sizes
    the profile sets. Images are float32 in [0, 1] with a channel axis.
    """
    profile = get_profile(profile)
    key = name.lower().replace("-", "_")
    if key == "fashion_mnist":
        (x_train, y_train), (x_test, y_test), source = load_fashion_mnist_arrays(
            allow_download
        )
        class_names = FASHION_MNIST_CLASSES
    elif key in ("mnist", "cifar10"):
        (x_train, y_train), (x_test, y_test), source = _load_keras_dataset(key)
        class_names = MNIST_CLASSES if key == "mnist" else CIFAR10_CLASSES
    else:
        raise ValueError(
            f"Unknown dataset {name!r}: choose 'fashion_mnist' (offline), "
            f"'mnist' or 'cifar10' (downloaded by Keras)."
        )
    y_train = y_train.astype("int64")
    y_test = y_test.astype("int64")
    val_idx = stratified_indices(y_train, profile.n_val, seed)
    n_train = profile.n_train or (len(y_train) - profile.n_val)
    train_idx = stratified_indices(y_train, n_train, seed + 1, exclude=val_idx)
    if profile.n_test is None or profile.n_test >= len(y_test):
        test_idx = np.arange(len(y_test))
    else:
        test_idx = stratified_indices(y_test, profile.n_test, seed + 2)
    return Dataset(
        name=key,
        x_train=_to_float_images(x_train[train_idx]),
        y_train=y_train[train_idx],
        x_val=_to_float_images(x_train[val_idx]),
        y_val=y_train[val_idx],
        x_test=_to_float_images(x_test[test_idx]),
        y_test=y_test[test_idx],
        class_names=class_names,
        source=source,
        profile=profile,
    )


def with_train_size(data: Dataset, n: int, seed: int = 0) -> Dataset:
    """The same dataset with a stratified subset of ``n`` training images.

    Validation and test stay the same, so runs at different training-set sizes
    are compared on the same images (02_data_augmentation).
    """
    if not 0 < n <= len(data.y_train):
        raise ValueError(
            f"Cannot take {n:,} training images from {len(data.y_train):,}: choose "
            f"a size between 1 and {len(data.y_train):,}, or a larger profile."
        )
    if n == len(data.y_train):
        return data
    index = stratified_indices(data.y_train, n, seed)
    profile = data.profile
    if profile.name == "custom":  # a hand-built profile follows its data's sizes
        profile = replace(profile, n_train=n)
    return replace(
        data,
        x_train=data.x_train[index],
        y_train=data.y_train[index],
        profile=profile,
    )


def main() -> int:
    """`python -m utils.data` (`make data`): check that Fashion-MNIST is here and
    intact; a problem is one line on stderr and exit status 1, not a traceback."""
    try:
        (x_train, _), (x_test, _), source = load_fashion_mnist_arrays(
            allow_download=True
        )
    except DatasetError as error:
        print(f"Fashion-MNIST is not ready: {error}", file=sys.stderr)
        return 1
    print(
        f"Fashion-MNIST OK from {source}: {len(x_train):,} training and "
        f"{len(x_test):,} test images, all four SHA-256 checksums verified."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
