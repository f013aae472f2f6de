"""Self-checks of the dropout lab (solutions/01_dropout_lab.ipynb)."""

from __future__ import annotations

import numpy as np

from utils.checks import (
    Mistake,
    as_array,
    call_answer,
    choose_by_validation,
    run_check,
    two_values,
)


def _dropout_statistics(x, y, rate, what):
    """Check zero fraction and scaling of a training-mode dropout output."""
    if y.shape != x.shape:
        raise Mistake(f"{what}: expected shape {x.shape}, got {y.shape}.")
    zeroed = float(np.mean(y == 0))
    if abs(zeroed - rate) > 0.02:
        if abs(zeroed - (1 - rate)) <= 0.02:
            raise Mistake(
                f"{zeroed:.0%} of the units were zeroed with rate {rate}: you kept "
                f"units with probability `rate`. Drop with probability `rate`, keep "
                f"with probability 1 - rate."
            )
        if zeroed == 0:
            raise Mistake(
                f"no unit was zeroed with rate {rate} in training mode: apply the "
                f"random mask when training."
            )
        raise Mistake(
            f"{zeroed:.0%} of the units were zeroed; expected about {rate:.0%}."
        )
    kept = y != 0
    ratio = float(np.median(y[kept] / x[kept]))
    if np.isclose(ratio, 1.0, atol=1e-3):
        raise Mistake(
            "the kept units were not scaled. Inverted dropout divides them by "
            "1 - rate, so that the expected activation stays the same."
        )
    if np.isclose(ratio, 1 - rate, atol=1e-3):
        raise Mistake("divide the kept units by 1 - rate; you multiplied by it.")
    if not np.allclose(y[kept], x[kept] / (1 - rate), rtol=1e-4):
        raise Mistake(f"kept units should equal x / (1 - rate) = x / {1 - rate:g}.")


def inverted_dropout(function, graded: bool = False):
    """Exercise 1: ``function(x, rate, rng)``, the training-mode forward pass."""

    def verify():
        x = np.random.default_rng(5).uniform(0.5, 1.5, size=(200, 500))
        for rate in (0.2, 0.5):
            original = x.copy()
            y = as_array(
                call_answer("Exercise 1", function, x, rate, np.random.default_rng(0)),
                "The result",
            )
            if not np.array_equal(x, original):
                raise Mistake("your function changed its input; return a new array.")
            _dropout_statistics(x, y, rate, "inverted_dropout")
            again = as_array(
                call_answer("Exercise 1", function, x, rate, np.random.default_rng(0)),
                "The result",
            )
            if not np.array_equal(y, again):
                raise Mistake(
                    "the same seed gave different masks: draw the mask with the `rng` "
                    "passed in (rng.random or rng.uniform), not np.random."
                )
            if abs(y.mean() - x.mean()) > 0.02:
                raise Mistake("the mean activation should stay about the same.")
        identity = as_array(
            call_answer("Exercise 1", function, x, 0.0, np.random.default_rng(0)),
            "The result",
        )
        if not np.allclose(identity, x):
            raise Mistake("with rate 0 nothing should change.")
        return (
            "about `rate` of the units are zeroed, the rest scaled by 1/(1 - rate), "
            "the mean is preserved, the mask comes from the given rng, and rate 0 "
            "changes nothing."
        )

    return run_check("Exercise 1", verify, graded)


def dropout_layer(layer_class, graded: bool = False):
    """Exercise 2: a Keras layer ``layer_class(rate, seed)``, training vs inference."""

    def verify():
        import keras

        layer = call_answer("Exercise 2", layer_class, 0.5, seed=0)
        if not isinstance(layer, keras.layers.Layer):
            raise Mistake(
                f"{layer_class!r} should be a class derived from keras.layers.Layer."
            )
        x = (
            np.random.default_rng(6)
            .uniform(0.5, 1.5, size=(200, 500))
            .astype("float32")
        )
        inferred = as_array(
            keras.ops.convert_to_numpy(
                call_answer("Exercise 2", layer, x, training=False)
            ),
            "The layer's output",
        )
        if inferred.shape != x.shape:
            raise Mistake(
                f"expected shape {x.shape} at inference, got {inferred.shape}."
            )
        if np.allclose(inferred, 0.5 * x, rtol=1e-4):
            raise Mistake(
                "at inference the output is x * (1 - rate): that is the textbook "
                "convention. With inverted dropout, training already scales, so "
                "inference must return the input unchanged."
            )
        if not np.allclose(inferred, x, rtol=1e-5):
            raise Mistake(
                "at inference (training=False) the layer must return its input "
                "unchanged; it behaves differently in training and inference."
            )
        trained = as_array(
            keras.ops.convert_to_numpy(
                call_answer("Exercise 2", layer, x, training=True)
            ),
            "The layer's output",
        )
        _dropout_statistics(x, trained, 0.5, "in training")
        model = keras.Sequential([keras.Input((500,)), layer_class(0.5, seed=1)])
        predicted = model.predict(x, verbose=0)
        if not np.allclose(predicted, x, rtol=1e-5):
            raise Mistake("inside a model, predict() must leave the input unchanged.")
        return (
            "in training (training=True) about half the units are zeroed and the rest "
            "doubled; at inference and in model.predict the layer is the identity."
        )

    return run_check("Exercise 2", verify, graded)


DROPOUT_CNN_ORDER = [
    "Conv2D",
    "MaxPooling2D",
    "SpatialDropout2D",
    "Conv2D",
    "MaxPooling2D",
    "SpatialDropout2D",
    "Flatten",
    "Dense",
    "Dropout",
    "Dense",
]


def dropout_cnn(function, graded: bool = False):
    """Exercise 3: ``function(spatial_rate, head_rate)`` places dropout in the CNN."""

    def verify():
        import keras

        model = call_answer("Exercise 3", function, 0.1, 0.4)
        if not isinstance(model, keras.Model):
            raise Mistake(f"return a Keras model, got {type(model).__name__}.")
        order = [
            type(layer).__name__
            for layer in model.layers
            if type(layer).__name__ not in ("InputLayer", "ReLU", "Activation")
        ]
        if order[-1] in ("Dropout", "SpatialDropout2D"):
            raise Mistake(
                "dropout after the output layer zeroes class probabilities; the last "
                "layer must be the softmax Dense layer."
            )
        spatial = [x for x in model.layers if type(x).__name__ == "SpatialDropout2D"]
        plain = [x for x in model.layers if type(x).__name__ == "Dropout"]
        if not spatial and len(plain) >= 2:
            raise Mistake(
                "on the conv blocks use SpatialDropout2D, which drops whole feature "
                "maps; plain Dropout on neighbouring pixels regularizes weakly."
            )
        if order != DROPOUT_CNN_ORDER:
            raise Mistake(
                "the layers should go: "
                + " → ".join(DROPOUT_CNN_ORDER)
                + "; yours: "
                + " → ".join(order)
                + "."
            )
        spatial_rates = [layer.rate for layer in spatial]
        head_rates = [layer.rate for layer in plain]
        if spatial_rates == [0.4, 0.4] and head_rates == [0.1]:
            raise Mistake("the rates are swapped: spatial_rate on the conv blocks.")
        if spatial_rates != [0.1, 0.1] or head_rates != [0.4]:
            raise Mistake(
                f"with spatial_rate=0.1 and head_rate=0.4 your rates are "
                f"{spatial_rates} (conv) and {head_rates} (head): use the arguments."
            )
        if model.count_params() != 421_642:
            raise Mistake(
                f"the model has {model.count_params():,} parameters; the baseline's "
                f"layers (421,642 parameters) should be unchanged — dropout adds none."
            )
        outputs = keras.ops.convert_to_numpy(
            model(np.ones((1, 28, 28, 1)), training=False)
        )
        if not np.isclose(outputs.sum(), 1.0, atol=1e-4):
            raise Mistake("the output layer needs activation='softmax'.")
        other = call_answer("Exercise 3", function, 0.3, 0.2)
        other_rates = [x.rate for x in other.layers if "Dropout" in type(x).__name__]
        if other_rates != [0.3, 0.3, 0.2]:
            raise Mistake("the rates must follow the arguments, not fixed numbers.")
        return (
            "SpatialDropout2D after each conv block, Dropout after the dense layer, "
            "rates from the arguments, the baseline's 421,642 parameters."
        )

    return run_check("Exercise 3", verify, graded)


def _mc_test_model():
    import keras

    keras.utils.set_random_seed(11)
    return keras.Sequential(
        [
            keras.Input((40,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


def _entropy(probabilities, log=np.log):
    return -np.sum(probabilities * log(probabilities + 1e-12), axis=-1)


def mc_dropout(function, graded: bool = False):
    """Exercise 4: ``function(model, images, n_samples) -> (mean, entropy)``."""

    def verify():
        import keras

        model = _mc_test_model()
        images = np.random.default_rng(2).normal(size=(64, 40)).astype("float32")
        answer = call_answer("Exercise 4", function, model, images, 30)
        mean, entropy = (
            as_array(a, "Each returned value")
            for a in two_values(answer, "mean_probabilities, entropy")
        )
        if mean.shape != (64, 5):
            raise Mistake(
                f"mean_probabilities should have shape (images, classes) = (64, 5), "
                f"got {mean.shape}: average over the passes (axis 0 of the stacked "
                f"samples)."
            )
        if entropy.shape != (64,):
            raise Mistake(
                f"entropy should have one value per image, (64,); got {entropy.shape}."
            )
        if not np.allclose(mean.sum(axis=1), 1.0, atol=1e-4):
            raise Mistake("each row of mean_probabilities should sum to 1.")
        deterministic = keras.ops.convert_to_numpy(model(images, training=False))
        if np.allclose(mean, deterministic, atol=1e-6):
            raise Mistake(
                "your mean equals a single deterministic pass: dropout was off. Call "
                "the model with training=True (predict() switches dropout off)."
            )
        reference = np.mean(
            [
                keras.ops.convert_to_numpy(model(images, training=True))
                for _ in range(400)
            ],
            axis=0,
        )
        # 30 passes: the mean should sit near the 400-pass mean; one pass does not.
        if np.abs(mean - reference).mean() > 0.03:
            raise Mistake(
                "the mean is far from the average of many stochastic passes: average "
                "all n_samples passes, not only the last one."
            )
        expected_entropy = _entropy(mean)
        if np.allclose(entropy, _entropy(mean, np.log2), atol=1e-3):
            raise Mistake("use the natural logarithm (np.log), so entropy is in nats.")
        if np.all(entropy < expected_entropy - 1e-4):
            raise Mistake(
                "that looks like the mean of the per-pass entropies. The predictive "
                "entropy is the entropy of the *mean* probabilities."
            )
        if not np.allclose(entropy, expected_entropy, atol=1e-3):
            raise Mistake(
                "entropy should be -sum(p * log(p)) of the mean probabilities."
            )
        return (
            "the mean of stochastic passes (training=True) with the right shape, and "
            "its entropy in nats."
        )

    return run_check("Exercise 4", verify, graded)


RATE_RECORDS = (
    {
        "rate": 0.0,
        "train_accuracy": 0.97,
        "val_accuracy": 0.872,
        "test_accuracy": 0.870,
    },
    {
        "rate": 0.2,
        "train_accuracy": 0.95,
        "val_accuracy": 0.889,
        "test_accuracy": 0.878,
    },
    {
        "rate": 0.3,
        "train_accuracy": 0.93,
        "val_accuracy": 0.884,
        "test_accuracy": 0.886,
    },
    {
        "rate": 0.5,
        "train_accuracy": 0.90,
        "val_accuracy": 0.880,
        "test_accuracy": 0.881,
    },
    {
        "rate": 0.7,
        "train_accuracy": 0.85,
        "val_accuracy": 0.851,
        "test_accuracy": 0.850,
    },
)


def best_rate(function, graded: bool = False):
    """Exercise 5: ``function(records)`` returns the rate with the best val accuracy."""
    return choose_by_validation("Exercise 5", function, RATE_RECORDS, "rate", graded)
