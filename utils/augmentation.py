"""Augmentation: the names, the layers and `tf.data` pipelines (02_data_augmentation).

`augmentation_layers` turns names (``AUGMENTATIONS``) into layers; the course
CNN (`utils.models.build_cnn`) puts them at the start of the model. Most are
Keras preprocessing layers; two are defined here, because Keras has no such
layer:

- `RandomShiftAndFlip`: the augmentation of the robustness probe's source
  article, a random shift of up to 2 pixels (zero fill) plus a few random pixels
  flipped (x becomes 1 - x);
- `RandomErasing`: cutout (DeVries and Taylor, 2017), a random square set to 0.

Like Keras' augmentation layers they change images when called directly or with
``training=True`` (``fit`` passes it), and return their input unchanged with
``training=False`` (``predict`` and ``evaluate`` pass it).
`augmented_dataset` puts any augmentation in a `tf.data` pipeline instead of the
model; `utils.bench.training_throughput` measures what each placement costs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

AUGMENTATIONS = (
    "flip",
    "translate",
    "rotate",
    "zoom",
    "contrast",
    "shift_flip",
    "shift",
    "cutout",
    "vflip",
)
# The layers defined below: Keras 3 only.
CUSTOM_AUGMENTATIONS = ("shift_flip", "shift", "cutout")


def _check_images(inputs, layer: str):
    if len(inputs.shape) != 4:
        raise ValueError(
            f"{layer} expects a batch of images (N, height, width, channels); got "
            f"shape {tuple(inputs.shape)}. Add the batch axis, e.g. images[None]."
        )


@keras.saving.register_keras_serializable(package="course")
class RandomShiftAndFlip(keras.layers.Layer):
    """Shift each image by up to ``max_shift`` pixels and flip ``n_pixels`` pixels.

    The shift is drawn per image, independently for rows and columns, from
    ``-max_shift..max_shift``; the uncovered border is filled with 0 (black, like
    Fashion-MNIST's background). Then ``n_pixels`` distinct random positions of
    each image are flipped, x -> 1 - x, for images in [0, 1].
    """

    def __init__(self, max_shift: int = 2, n_pixels: int = 5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(max_shift) != max_shift or max_shift < 0:
            raise ValueError(f"max_shift must be a whole number >= 0, got {max_shift}.")
        if int(n_pixels) != n_pixels or n_pixels < 0:
            raise ValueError(f"n_pixels must be a whole number >= 0, got {n_pixels}.")
        self.max_shift = int(max_shift)
        self.n_pixels = int(n_pixels)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        _check_images(inputs, "RandomShiftAndFlip")
        images = tf.convert_to_tensor(inputs)
        batch = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        down, right = (
            keras.random.randint(
                (batch,),
                -self.max_shift,
                self.max_shift + 1,
                dtype="int32",
                seed=self.seed_generator,
            )
            for _ in range(2)
        )
        # Row i of a shift matrix has its 1 at column i - offset; an index outside
        # the image gives an all-zero row, which is the zero fill.
        rows = tf.one_hot(tf.range(height)[None, :] - down[:, None], height)
        cols = tf.one_hot(tf.range(width)[None, :] - right[:, None], width)
        shifted = tf.einsum(
            "bij,bjkc,blk->bilc", rows, images, tf.cast(cols, images.dtype)
        )
        if self.n_pixels == 0:
            return shifted
        scores = keras.random.uniform((batch, height * width), seed=self.seed_generator)
        _, positions = tf.math.top_k(scores, k=self.n_pixels)
        mask = tf.reduce_sum(tf.one_hot(positions, height * width), axis=1)
        mask = tf.cast(tf.reshape(mask, (batch, height, width, 1)), images.dtype)
        return shifted + mask * (1.0 - 2.0 * shifted)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(max_shift=self.max_shift, n_pixels=self.n_pixels, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="course")
class RandomErasing(keras.layers.Layer):
    """Cutout: set a random ``size`` x ``size`` square of each image to ``fill``.

    The square's centre is uniform over the image, so the square may be cut by the
    border (as in the cutout paper); it erases at most ``size**2`` pixels.
    """

    def __init__(self, size: int = 8, fill: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(size) != size or size < 1:
            raise ValueError(f"size must be a whole number >= 1, got {size}.")
        self.size = int(size)
        self.fill = float(fill)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=True):
        if not training:
            return inputs
        _check_images(inputs, "RandomErasing")
        images = tf.convert_to_tensor(inputs)
        batch = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        top, left = (
            keras.random.randint((batch,), 0, extent, seed=self.seed_generator)
            - self.size // 2
            for extent in (height, width)
        )

        def inside(start, extent):
            positions = tf.range(extent)[None, :]
            return (positions >= start[:, None]) & (
                positions < start[:, None] + self.size
            )

        square = inside(top, height)[:, :, None] & inside(left, width)[:, None, :]
        square = tf.cast(square[..., None], images.dtype)
        return images * (1.0 - square) + self.fill * square

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, fill=self.fill, seed=self.seed)
        return config


def augmented_dataset(
    x, y, augment, batch_size: int = 64, seed: int = 0, shuffle: bool = True
):
    """A `tf.data` pipeline that augments each training batch outside the model.

    Shuffle, batch, then ``augment(images, training=True)`` in parallel calls of
    ``map``, and ``prefetch`` so that the CPU prepares the next batches while the
    model trains on this one.
    """
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels: they must match.")
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed)
    return (
        dataset.batch(batch_size)
        .map(
            lambda images, labels: (augment(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )


def augmentation_layers(names, seed=None, keras_module=None) -> list:
    """The augmentation layers named in ``names``, in order (02_data_augmentation).

    ``flip`` (horizontal), ``translate`` (up to 10 %), ``rotate`` (up to 18°),
    ``zoom`` (up to 10 %) and ``contrast`` (up to 20 %) are Keras preprocessing
    layers; ``shift_flip`` (shift up to 2 px, 5 pixels flipped), ``shift`` (the
    same shift alone, whole pixels, no interpolation: the final model's) and
    ``cutout`` (an 8 x 8 square erased) are `RandomShiftAndFlip` and
    `RandomErasing`;
    ``vflip`` (upside down) is there to show what an augmentation costs when it
    produces images the test set never shows (an upside-down shirt is still a
    shirt: a distribution mismatch, not a wrong label). ``keras_module`` is
    ``keras`` (default) or ``tf_keras`` (05's twin).
    """
    module = keras if keras_module is None else keras_module
    if isinstance(names, str):
        raise ValueError(
            f"augmentation must be a list of names, e.g. [{names!r}], not a string."
        )
    names = list(names)
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation {unknown}: choose from {', '.join(AUGMENTATIONS)}."
        )
    custom = [name for name in names if name in CUSTOM_AUGMENTATIONS]
    if custom and module.__name__ != "keras":
        raise ValueError(
            f"{custom} are Keras 3 layers; build this model with keras, not "
            f"{module.__name__} (quantization-aware training keeps augmentation out "
            f"of the quantized model anyway)."
        )
    layers = module.layers
    makers = {
        "flip": lambda: layers.RandomFlip("horizontal", seed=seed),
        "translate": lambda: layers.RandomTranslation(
            0.1, 0.1, fill_mode="constant", seed=seed
        ),
        "rotate": lambda: layers.RandomRotation(0.05, fill_mode="constant", seed=seed),
        "zoom": lambda: layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        "contrast": lambda: layers.RandomContrast(0.2, seed=seed),
        "shift_flip": lambda: RandomShiftAndFlip(2, 5, seed=seed),
        "shift": lambda: RandomShiftAndFlip(2, 0, seed=seed),
        "cutout": lambda: RandomErasing(8, seed=seed),
        "vflip": lambda: layers.RandomFlip("vertical", seed=seed),
    }
    return [makers[name]() for name in names]
