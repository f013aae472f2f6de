"""The course CNN, one builder with a knob per technique (00_baseline onwards).

``build_cnn()`` with no arguments is the baseline: two 3x3 conv blocks (16 and
32 filters, each followed by 2x2 max pooling), a dense layer of 128 units and a
softmax over the classes — about 207k parameters on 28x28x1 inputs, most of them
in the dense layer, so that it can memorize 10,000 images; the conv blocks are
kept narrow because they cost most of the time (docs/instructors.md). Each later
notebook turns one knob: ``dropout`` (01), ``augmentation`` (02), ``l2`` (03),
``normalization`` (04); ``keras_module`` builds the same net in tf_keras for
quantization-aware training (05).
"""

from __future__ import annotations

import math

import keras
import numpy as np

# The augmentation names and layers live in utils.augmentation; models built here
# use them, and notebooks find them under either module.
from utils.augmentation import AUGMENTATIONS, augmentation_layers

NORMALIZATIONS = (None, "batch", "layer", "group")
DROPOUT_PLACEMENTS = ("head", "conv", "spatial", "both")
__all__ = [
    "AUGMENTATIONS",
    "DROPOUT_PLACEMENTS",
    "NORMALIZATIONS",
    "augmentation_layers",
    "build_cnn",
    "kernel_weights",
]


def build_cnn(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    conv_filters=(16, 32),
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
            normalization (BatchNormalization; layer norm, built as
            GroupNormalization with one group: each example's statistics over
            height, width and channels; GroupNormalization with up to 8
            groups) between each hidden linear layer and its ReLU; the linear
            layers then have no bias.
        standardize: ``(mean, variance)`` of the training pixels: a
            ``Normalization`` layer standardizes the input (04_normalization).
        augmentation: names from ``utils.augmentation.AUGMENTATIONS``, applied
            inside the model (active only in training).
        width: multiplies every filter and unit count.
        keras_module: ``keras`` (default) or ``tf_keras`` for the Keras 2 twin.
    """
    module = keras if keras_module is None else keras_module
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
    regularizer = module.regularizers.L2(l2) if l2 > 0 else None
    use_bias = normalization is None
    layers = module.layers

    def normalization_layer(channels, suffix):
        if normalization == "batch":
            return layers.BatchNormalization(name=f"bn{suffix}")
        if normalization == "layer":
            # Layer norm as d2l and Wu & He define it for conv nets: statistics
            # over (H, W, C) of each example, one scale and shift per channel.
            return layers.GroupNormalization(groups=1, name=f"ln{suffix}")
        return layers.GroupNormalization(
            groups=math.gcd(8, channels), name=f"gn{suffix}"
        )

    model_layers = [module.Input(shape=tuple(input_shape))]
    model_layers += augmentation_layers(augmentation, seed, module)
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
    return module.Sequential(model_layers, name=name)


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
