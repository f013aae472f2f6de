"""The course CNN, one builder with a knob per technique (00_baseline onwards).

``build_cnn()`` with no arguments is the baseline: two 3x3 conv blocks (32 and
64 filters, each followed by 2x2 max pooling), a dense layer of 128 units and a
softmax over the classes — about 420k parameters on 28x28x1 inputs. Each later
notebook turns one knob: ``dropout`` (01), ``augmentation`` (02), ``l2`` (03),
``normalization`` (04); ``keras_module`` builds the same net in tf_keras for
quantization-aware training (05).
"""

from __future__ import annotations

import math

import numpy as np

AUGMENTATIONS = (
    "flip",
    "translate",
    "rotate",
    "zoom",
    "contrast",
    "shift_flip",
    "cutout",
    "vflip",
)
# Layers from utils.augmentation: Keras 3 only.
CUSTOM_AUGMENTATIONS = ("shift_flip", "cutout")
NORMALIZATIONS = (None, "batch", "layer", "group")
DROPOUT_PLACEMENTS = ("head", "conv", "spatial", "both")


def augmentation_layers(names, seed=None, keras_module=None) -> list:
    """The augmentation layers named in ``names``, in order (02_data_augmentation).

    ``flip`` (horizontal), ``translate`` (up to 10 %), ``rotate`` (up to 18°),
    ``zoom`` (up to 10 %) and ``contrast`` (up to 20 %) are Keras preprocessing
    layers; ``shift_flip`` (shift up to 2 px, 5 pixels flipped) and ``cutout``
    (an 8 x 8 square erased) come from `utils.augmentation`; ``vflip`` (upside
    down) is there to show what a label-breaking augmentation costs.
    """
    if keras_module is None:
        import keras as keras_module
    keras = keras_module
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
    if custom and keras.__name__ != "keras":
        raise ValueError(
            f"{custom} are Keras 3 layers; build this model with keras, not "
            f"{keras.__name__} (quantization-aware training keeps augmentation out "
            f"of the quantized model anyway)."
        )

    def custom_layer(name):
        from utils import augmentation

        if name == "shift_flip":
            return augmentation.RandomShiftAndFlip(2, 5, seed=seed)
        return augmentation.RandomErasing(8, seed=seed)

    makers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "translate": lambda: keras.layers.RandomTranslation(
            0.1, 0.1, fill_mode="constant", seed=seed
        ),
        "rotate": lambda: keras.layers.RandomRotation(
            0.05, fill_mode="constant", seed=seed
        ),
        "zoom": lambda: keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        "contrast": lambda: keras.layers.RandomContrast(0.2, seed=seed),
        "shift_flip": lambda: custom_layer("shift_flip"),
        "cutout": lambda: custom_layer("cutout"),
        "vflip": lambda: keras.layers.RandomFlip("vertical", seed=seed),
    }
    return [makers[name]() for name in names]


def build_cnn(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    conv_filters=(32, 64),
    dense_units: int = 128,
    dropout: float = 0.0,
    dropout_placement: str = "head",
    l2: float = 0.0,
    normalization: str | None = None,
    pool_every: int = 1,
    standardize=None,
    augmentation=(),
    width: float = 1.0,
    seed: int | None = None,
    keras_module=None,
    name: str = "cnn",
):
    """Build the course CNN; every technique is off by default.

    Args:
        conv_filters: filters of each conv layer (3x3, same padding, ReLU); 2x2
            max pooling follows every ``pool_every`` conv layers.
        dropout: drop rate; ``dropout_placement`` says where: ``"head"`` (after
            the dense layer), ``"conv"`` (after each conv block), ``"spatial"``
            (SpatialDropout2D after each conv block) or ``"both"``.
        l2: L2 penalty factor on every conv and dense kernel.
        normalization: ``None``, ``"batch"``, ``"layer"`` or ``"group"``: that
            normalization (BatchNormalization, LayerNormalization over channels,
            GroupNormalization with up to 8 groups) between each hidden linear
            layer and its ReLU; the linear layers then have no bias.
        standardize: ``(mean, variance)`` of the training pixels: a
            ``Normalization`` layer standardizes the input (04_normalization).
        augmentation: names from ``AUGMENTATIONS``, applied inside the model
            (active only in training).
        width: multiplies every filter and unit count.
        keras_module: ``keras`` (default) or ``tf_keras`` for the Keras 2 twin.
    """
    if keras_module is None:
        import keras as keras_module
    keras = keras_module
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    if dropout_placement not in DROPOUT_PLACEMENTS:
        raise ValueError(
            f"dropout_placement must be one of {DROPOUT_PLACEMENTS}, "
            f"got {dropout_placement!r}."
        )
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}."
        )
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}.")
    if pool_every < 1:
        raise ValueError(f"pool_every must be >= 1, got {pool_every}.")
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    use_bias = normalization is None
    layers = keras.layers

    def normalization_layer(channels, suffix):
        if normalization == "batch":
            return layers.BatchNormalization(name=f"bn{suffix}")
        if normalization == "layer":
            return layers.LayerNormalization(name=f"ln{suffix}")
        return layers.GroupNormalization(
            groups=math.gcd(8, channels), name=f"gn{suffix}"
        )

    model_layers = [keras.Input(shape=tuple(input_shape))]
    model_layers += augmentation_layers(augmentation, seed, keras)
    if standardize is not None:
        mean, variance = standardize
        model_layers.append(
            layers.Normalization(mean=mean, variance=variance, name="standardize")
        )
    for index, filters in enumerate(conv_filters):
        channels = max(1, int(filters * width))
        model_layers.append(
            layers.Conv2D(
                channels,
                3,
                padding="same",
                use_bias=use_bias,
                kernel_regularizer=regularizer,
                name=f"conv{index + 1}",
            )
        )
        if normalization is not None:
            model_layers.append(normalization_layer(channels, index + 1))
        model_layers.append(layers.ReLU(name=f"relu{index + 1}"))
        if (index + 1) % pool_every:
            continue
        model_layers.append(layers.MaxPooling2D(2, name=f"pool{index + 1}"))
        if dropout > 0 and dropout_placement in ("conv", "both"):
            model_layers.append(layers.Dropout(dropout, seed=seed))
        if dropout > 0 and dropout_placement == "spatial":
            model_layers.append(layers.SpatialDropout2D(dropout, seed=seed))
    model_layers.append(layers.Flatten(name="flatten"))
    units = max(1, int(dense_units * width))
    model_layers.append(
        layers.Dense(
            units,
            use_bias=use_bias,
            kernel_regularizer=regularizer,
            name="dense",
        )
    )
    if normalization is not None:
        model_layers.append(normalization_layer(units, "_dense"))
    model_layers.append(layers.ReLU(name="relu_dense"))
    if dropout > 0 and dropout_placement in ("head", "both"):
        model_layers.append(layers.Dropout(dropout, seed=seed, name="dropout_dense"))
    model_layers.append(
        layers.Dense(
            num_classes,
            activation="softmax",
            kernel_regularizer=regularizer,
            name="classifier",
        )
    )
    return keras.Sequential(model_layers, name=name)


def kernel_weights(model) -> np.ndarray:
    """Every conv and dense kernel value of a model, flattened (03_weight_decay).

    Biases and normalization parameters are left out: weight decay and the L2
    penalty apply to kernels.
    """
    kernels = [
        np.asarray(layer.kernel).reshape(-1)
        for layer in model.layers
        if getattr(layer, "kernel", None) is not None
    ]
    return np.concatenate(kernels) if kernels else np.zeros(0)
