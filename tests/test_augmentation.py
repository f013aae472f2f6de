"""The augmentation names, layers and pipeline of utils.augmentation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import augmentation, data, evaluation, models, training
from utils.augmentation import AUGMENTATIONS, augmentation_layers


@pytest.fixture
def images():
    return np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")


def differences_from_nearest_shift(original, augmented, max_shift=2):
    offsets = range(-max_shift, max_shift + 1)
    return min(
        (
            int(
                np.sum(
                    ~np.isclose(
                        augmented, evaluation.shift_images(original[None], d, r)[0]
                    )
                )
            ),
            (d, r),
        )
        for d in offsets
        for r in offsets
    )


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_augmentation_is_the_identity_at_inference(name, images):
    (layer,) = augmentation_layers([name], seed=0)
    inferred = keras.ops.convert_to_numpy(layer(images, training=False))
    assert np.array_equal(inferred, images)
    model = keras.Sequential([keras.Input(images.shape[1:]), layer])
    assert np.array_equal(model.predict(images, verbose=0), images)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_a_direct_call_augments_like_keras_layers_do(name, images):
    # Keras' preprocessing layers default to training=True when called directly.
    (layer,) = augmentation_layers([name], seed=0)
    assert not np.allclose(keras.ops.convert_to_numpy(layer(images)), images)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_augmentation_changes_images_in_training(name, images):
    (layer,) = augmentation_layers([name], seed=0)
    changed = keras.ops.convert_to_numpy(layer(images, training=True))
    assert changed.shape == images.shape
    assert not np.allclose(changed, images)


def test_shift_and_flip_is_a_small_shift_plus_exactly_n_flipped_pixels(images):
    # Values away from 0.5 so that every flip shows.
    images = np.where(images < 0.5, images * 0.8, 0.2 + images * 0.8).astype("float32")
    layer = augmentation.RandomShiftAndFlip(max_shift=2, n_pixels=5, seed=0)
    augmented = keras.ops.convert_to_numpy(layer(images, training=True))
    shifts = set()
    for original, result in zip(images, augmented):
        difference, shift = differences_from_nearest_shift(original, result)
        # a flipped pixel may fall on the zero-filled border of a shifted image
        assert difference <= 5
        shifts.add(shift)
    assert len(shifts) > 5, "each image should get its own shift"


def test_shift_without_flips_matches_the_probe_shift_exactly(images):
    layer = augmentation.RandomShiftAndFlip(max_shift=2, n_pixels=0, seed=1)
    augmented = keras.ops.convert_to_numpy(layer(images, training=True))
    for original, result in zip(images, augmented):
        assert differences_from_nearest_shift(original, result)[0] == 0


def test_flips_without_shift_change_exactly_n_pixels_to_one_minus_x(images):
    layer = augmentation.RandomShiftAndFlip(max_shift=0, n_pixels=7, seed=0)
    augmented = keras.ops.convert_to_numpy(layer(images, training=True))
    changed = ~np.isclose(augmented, images)
    assert np.all(changed.reshape(len(images), -1).sum(axis=1) == 7)
    np.testing.assert_allclose(augmented[changed], 1.0 - images[changed], atol=1e-6)


def test_the_same_seed_gives_the_same_augmentation(images):
    first = augmentation.RandomShiftAndFlip(seed=3)(images, training=True)
    second = augmentation.RandomShiftAndFlip(seed=3)(images, training=True)
    assert np.array_equal(first, second)


def test_cutout_erases_one_square_of_at_most_size_squared_pixels(images):
    layer = augmentation.RandomErasing(size=8, seed=0)
    erased = keras.ops.convert_to_numpy(layer(images, training=True))
    corners = set()
    for original, result in zip(images, erased):
        changed = ~np.isclose(result, original)
        rows, cols = np.nonzero(changed[..., 0])
        assert 0 < len(rows) <= 64
        assert np.all(result[changed] == 0.0)
        # the changed pixels fill their bounding box: one rectangle
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert len(rows) == height * width and height <= 8 and width <= 8
        corners.add((rows.min(), cols.min()))
    assert len(corners) > 5, "each image should get its own square"


def test_layers_refuse_images_without_a_batch_axis(images):
    with pytest.raises(ValueError, match="batch axis"):
        augmentation.RandomShiftAndFlip()(images[0], training=True)
    with pytest.raises(ValueError, match="batch axis"):
        augmentation.RandomErasing()(images[0], training=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: augmentation.RandomShiftAndFlip(max_shift=-1), "max_shift"),
        (lambda: augmentation.RandomShiftAndFlip(n_pixels=1.5), "n_pixels"),
        (lambda: augmentation.RandomErasing(size=0), "size"),
    ],
)
def test_bad_layer_arguments_are_refused_with_the_argument_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_model_with_augmentation_predicts_like_the_same_model_without(images):
    augmented = models.build_cnn(augmentation=["flip", "shift_flip", "cutout"], seed=0)
    plain = models.build_cnn()
    for name in ("conv1", "conv2", "dense", "classifier"):
        plain.get_layer(name).set_weights(augmented.get_layer(name).get_weights())
    np.testing.assert_array_equal(
        augmented.predict(images, verbose=0), plain.predict(images, verbose=0)
    )


def test_a_model_with_the_custom_layers_saves_and_loads_safely(images, tmp_path):
    model = models.build_cnn(augmentation=["shift_flip", "cutout"], seed=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert [type(layer).__name__ for layer in loaded.layers[:2]] == [
        "RandomShiftAndFlip",
        "RandomErasing",
    ]
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_fit_reuses_a_saved_run_with_custom_augmentation(tiny_data):
    config = {"augmentation": ["shift_flip"], "seed": 0}
    first = training.fit("aug", tiny_data, config, epochs=1, verbose=False)
    again = training.fit("aug", tiny_data, config, epochs=1, verbose=False)
    assert again.reused and again["test_accuracy"] == first["test_accuracy"]


def test_augmentation_names_are_checked():
    with pytest.raises(ValueError, match="choose from"):
        augmentation_layers(["mirror"])
    with pytest.raises(ValueError, match="not a string"):
        models.build_cnn(augmentation="flip")


def test_custom_augmentations_are_refused_for_the_tf_keras_twin():
    import tf_keras

    with pytest.raises(ValueError, match="Keras 3"):
        models.build_cnn(augmentation=["cutout"], keras_module=tf_keras)


def test_pipeline_yields_every_image_once_augmented_with_its_label():
    x = np.arange(50, dtype="float32")[:, None, None, None] * np.ones(
        (1, 4, 4, 1), "float32"
    )
    y = np.arange(50) % 10

    def add_hundred(batch, training=False):
        return batch + (100.0 if training else 0.0)

    batches = list(augmentation.augmented_dataset(x, y, add_hundred, batch_size=8))
    seen = np.concatenate([images.numpy()[:, 0, 0, 0] for images, _ in batches])
    labels = np.concatenate([labels.numpy() for _, labels in batches])
    assert sorted(seen - 100) == list(range(50))
    assert np.array_equal((seen - 100).astype(int) % 10, labels)
    assert [len(labels) for _, labels in batches][:6] == [8] * 6


def test_pipeline_refuses_mismatched_images_and_labels():
    with pytest.raises(ValueError, match="must match"):
        augmentation.augmented_dataset(
            np.zeros((4, 2, 2, 1)), np.zeros(3), lambda x, training: x
        )


def test_pipeline_runs_the_custom_layers_on_every_image_in_tf_data(images):
    augment = keras.Sequential(augmentation_layers(["cutout"], seed=0))
    index = np.arange(len(images))
    dataset = augmentation.augmented_dataset(images, index, augment, 16)
    assert isinstance(dataset, tf.data.Dataset)
    seen = []
    for batch, labels in dataset:
        assert batch.shape == (16, 28, 28, 1)
        for erased, label in zip(batch.numpy(), labels.numpy()):
            # the image of that label, with one square of at most 8 x 8 erased
            changed = ~np.isclose(erased, images[label])
            assert 0 < changed.sum() <= 64 and np.all(erased[changed] == 0.0)
            seen.append(int(label))
    assert sorted(seen) == list(range(len(images)))


def test_models_keeps_the_augmentation_names_it_builds_with():
    assert models.AUGMENTATIONS is augmentation.AUGMENTATIONS
    assert models.augmentation_layers is augmentation.augmentation_layers


def test_with_train_size_keeps_validation_and_test_and_stratifies(smoke_data):
    smaller = data.with_train_size(smoke_data, 500, seed=0)
    assert len(smaller.y_train) == 500
    assert np.array_equal(smaller.x_val, smoke_data.x_val)
    assert np.array_equal(smaller.x_test, smoke_data.x_test)
    assert np.all(np.bincount(smaller.y_train, minlength=10) == 50)
    assert data.with_train_size(smoke_data, len(smoke_data.y_train)) is smoke_data


def test_with_train_size_refuses_more_images_than_the_profile_has(smoke_data):
    with pytest.raises(ValueError, match="larger profile"):
        data.with_train_size(smoke_data, 10**6)


def test_shift_moves_whole_pixels_and_flips_none():
    images = np.random.default_rng(0).uniform(0.2, 1.0, (16, 28, 28, 1)).astype("f4")
    (layer,) = augmentation_layers(["shift"], seed=0)
    shifted = np.asarray(layer(images, training=True))
    for before, after in zip(images, shifted, strict=True):
        # every value of the shifted image is a value of the original or the
        # zero fill: no interpolation and no flipped pixels (1 - x)
        assert np.isin(after[after != 0], before).all()
    assert not np.array_equal(shifted, images)
    assert np.array_equal(np.asarray(layer(images, training=False)), images)
