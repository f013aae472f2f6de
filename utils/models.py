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
    "build_final_cnn",
    "build_keras_mnist_convnet",
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


# The final model's augmentation: horizontal flips and whole-pixel shifts.
FINAL_AUGMENTATION = ("flip", "shift")


def build_final_cnn(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    stages=((32,), (64, 64), (128,)),
    augmentation=FINAL_AUGMENTATION,
    dropout: float = 0.3,
    head_units: int = 256,
    seed: int | None = None,
    name: str = "final_cnn",
):
    """The capstone's final model (06_capstone): the techniques at full scale.

    Augmentation (active only in training), then ``stages`` of 3x3 conv layers,
    each conv -> batch norm -> ReLU, with 2x2 max pooling between stages; then
    Flatten -> Dense(``head_units``) -> batch norm -> ReLU, dropout, and the
    softmax. ``head_units=0`` puts a global average over the last feature maps in
    place of Flatten -> Dense (on the validation images it did worse: README,
    "The final model"). With the defaults: 28x28 with 32 filters, 14x14 with 64
    and 64, 7x7 with 128, a dense layer of 256; about 1.7M parameters, most of
    them in the dense layer. Its weight decay is the optimizer's (AdamW,
    `FINAL_TRAINING`), not a penalty in the model.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    if not stages or not all(stages):
        raise ValueError(
            f"stages must be a list of filter lists, e.g. ((32,), (64, 64)); got "
            f"{stages!r}."
        )
    layers = keras.layers
    model_layers = [keras.Input(shape=tuple(input_shape))]
    model_layers += augmentation_layers(augmentation, seed)
    for stage, filters in enumerate(stages, start=1):
        if stage > 1:
            model_layers.append(layers.MaxPooling2D(2, name=f"pool{stage - 1}"))
        for index, channels in enumerate(filters, start=1):
            suffix = f"{stage}_{index}"
            model_layers += [
                layers.Conv2D(
                    int(channels),
                    3,
                    padding="same",
                    use_bias=False,
                    name=f"conv{suffix}",
                ),
                layers.BatchNormalization(name=f"bn{suffix}"),
                layers.ReLU(name=f"relu{suffix}"),
            ]
    if head_units:
        model_layers += [
            layers.Flatten(name="flatten"),
            layers.Dense(int(head_units), use_bias=False, name="dense"),
            layers.BatchNormalization(name="bn_dense"),
            layers.ReLU(name="relu_dense"),
        ]
    else:
        model_layers.append(layers.GlobalAveragePooling2D(name="average"))
    if dropout > 0:
        model_layers.append(layers.Dropout(dropout, seed=seed, name="dropout"))
    model_layers.append(
        layers.Dense(num_classes, activation="softmax", name="classifier")
    )
    return keras.Sequential(model_layers, name=name)


# How the final model trains (06_capstone, `make bench`), chosen on the 5,000
# validation images: `utils.training.fit` arguments.
FINAL_TRAINING = {
    "epochs": 30,
    "batch_size": 128,
    "learning_rate": 2e-3,
    "optimizer": "adamw",
    "weight_decay": 0.05,
}


def build_keras_mnist_convnet(
    input_shape=(28, 28, 1), num_classes: int = 10, name: str = "keras_mnist_convnet"
):
    """keras.io's "Simple MNIST convnet" example, the recipe learners copy.

    Two 3x3 conv layers (32 and 64 filters, valid padding, ReLU), each followed by
    2x2 max pooling, then Flatten, dropout 0.5 and the softmax: 34,826 parameters.
    The example trains it with Adam (constant rate 1e-3), batch 128, 15 epochs
    (`KERAS_MNIST_TRAINING`). The final model is measured against it.
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name=name,
    )


# The example's training: its last epoch's weights, no schedule.
KERAS_MNIST_TRAINING = {
    "epochs": 15,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "schedule": "constant",
    "restore_best": False,
}


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
