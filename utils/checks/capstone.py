"""Self-checks of the capstone lab (solutions/06_capstone_lab.ipynb).

Each check meets several recipes or record sets drawn anew at each call (other
dropout rates, L2 factors, augmentation lists and seeds than the lab's own), so
that an answer with the lab's values written in cannot pass. The model check
reads the layers in order (normalization before the activation, pooling after
each block), accepts every equivalent construction (Sequential or functional,
nested Sequential augmentation, ReLU or Softmax as layers or as activations) and
runs the model; the ablation check reads the learner's own runs with
`utils.evaluation.compare`, the computation the lecture reports.
"""

from __future__ import annotations

import copy

import numpy as np

from utils.checks import (
    Mistake,
    NotDone,
    call_answer,
    describe,
    run_check,
    shorten,
)

RECIPE = {
    "augmentation": ["flip", "shift_flip"],
    "normalization": "batch",
    "dropout": 0.2,
    "dropout_placement": "conv",
    "l2": 1e-5,
    "seed": 0,
}
# What "without" each technique means for the recipe's build_cnn arguments.
TURNED_OFF = {
    "augmentation": {"augmentation": []},
    "normalization": {"normalization": None},
    "dropout": {"dropout": 0.0},
    "weight decay": {"l2": 0.0},
}
TECHNIQUES = tuple(TURNED_OFF)
NONE = "none"  # the reading when no removal measurably lowered validation accuracy
AUGMENTATIONS = ("flip", "translate", "rotate", "zoom", "contrast", "shift_flip")
FILTERS = (16, 32)  # the course CNN's conv blocks (utils.models.build_cnn)
DENSE_UNITS = 128
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TIME_LIMIT_S = 120


def _call(exercise, function, *args, where=None):
    try:
        return call_answer(exercise, function, *args)
    except NotDone:
        raise
    except Mistake as mistake:
        if where is None:
            raise
        raise Mistake(f"{mistake} (It happened on {where}.)") from None


def _draw_recipes(rng, count=2):
    """Recipes unlike the lab's: other rates, L2 factors, augmentation and seeds."""
    recipes = []
    for index in range(count):
        size = int(rng.integers(0, 3)) if index else int(rng.integers(1, 3))
        names = [str(n) for n in rng.choice(AUGMENTATIONS, size, replace=False)]
        recipes.append(
            {
                **RECIPE,
                "augmentation": names,
                "dropout": float(rng.choice([0.1, 0.15, 0.3, 0.35, 0.4])),
                "l2": float(rng.choice([3e-5, 2e-4, 5e-4, 1e-3])),
                "seed": int(rng.integers(1, 100)),
            }
        )
    return recipes


# --- Exercise 1: the recipe's model by hand ---


def _activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", str(activation))
    return "linear" if name in ("linear", "identity") else name


def _token(layer):
    """A layer as (kind, layer): the vocabulary of the recipe's structure."""
    kind = type(layer).__name__
    if kind.startswith("Random"):
        return "augmentation"
    if kind in ("Conv2D", "Dense", "BatchNormalization", "Flatten", "MaxPooling2D"):
        return {
            "Conv2D": "conv",
            "Dense": "dense",
            "BatchNormalization": "bn",
            "Flatten": "flatten",
            "MaxPooling2D": "pool",
        }[kind]
    if kind == "ReLU":
        plain = (
            getattr(layer, "max_value", None) is None
            and float(getattr(layer, "negative_slope", 0.0) or 0.0) == 0.0
            and float(getattr(layer, "threshold", 0.0) or 0.0) == 0.0
        )
        return "relu" if plain else "other"
    if kind == "Activation":
        return {"relu": "relu", "softmax": "softmax", "linear": "identity"}.get(
            _activation_name(layer), "other"
        )
    if kind == "Softmax":
        return "softmax"
    if kind == "Dropout":
        return "dropout"
    if kind == "SpatialDropout2D":
        return "spatial dropout"
    return "other"


def _flat_layers(model):
    import keras

    layers = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            layers += _flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            layers.append(layer)
    return layers


def _augmentation_mistake(layers, recipe):
    from utils import models

    expected = models.augmentation_layers(recipe["augmentation"], seed=recipe["seed"])
    wanted = [type(layer).__name__ for layer in expected]
    tokens = [_token(layer) for layer in layers]
    first_other = next(
        (i for i, t in enumerate(tokens) if t != "augmentation"), len(tokens)
    )
    late = [
        type(layer).__name__
        for layer, token in zip(layers[first_other:], tokens[first_other:])
        if token == "augmentation"
    ]
    if late:
        return (
            f"the augmentation layers ({', '.join(late)}) come first, on the images, "
            f"before the first Conv2D."
        ), first_other
    got = [type(layer).__name__ for layer in layers[:first_other]]
    if got != wanted:
        names = recipe["augmentation"]
        return (
            f"recipe['augmentation'] is {names}, so the model starts with "
            f"{wanted or 'no augmentation layer'}; yours starts with "
            f"{got or 'none'}. Use utils.models.augmentation_layers(recipe["
            f"'augmentation'], seed=recipe['seed'])."
        ), first_other
    for layer, reference in zip(layers, expected):
        seed = layer.get_config().get("seed")
        if seed != reference.get_config().get("seed"):
            return (
                f"{type(layer).__name__} has seed {seed}; recipe['seed'] is "
                f"{recipe['seed']}: pass seed=recipe['seed'] to "
                f"utils.models.augmentation_layers, so that each recipe's "
                f"augmentation is reproducible."
            ), first_other
    ignored = {"name", "seed", "trainable", "dtype", "autocast"}
    for layer, reference in zip(layers, expected):
        mine = {k: v for k, v in layer.get_config().items() if k not in ignored}
        theirs = {k: v for k, v in reference.get_config().items() if k not in ignored}
        if mine != theirs:
            return (
                f"{type(layer).__name__} is set up differently from the course's "
                f"augmentation {recipe['augmentation']}: build the layers with "
                f"utils.models.augmentation_layers."
            ), first_other
    return None, first_other


def _block_mistake(tokens, layers, start, recipe, block):
    """A hint about the conv block at ``start``, or None; returns the next index."""
    conv = layers[start]
    where = f"conv block {block} (Conv2D with {conv.filters} filters)"
    if tuple(conv.kernel_size) != (3, 3):
        padding = " and padding='same'" if conv.padding != "same" else ""
        return (
            f"{where} has {conv.kernel_size[0]}×{conv.kernel_size[1]} kernels: the "
            f"recipe uses 3×3{padding}."
        ), None
    if conv.padding != "same":
        return (
            f"{where} uses padding={conv.padding!r}: use padding='same', so that "
            f"each conv keeps the size of its maps (28 → 14 → 7 after pooling)."
        ), None
    if tuple(conv.strides) != (1, 1) or tuple(conv.dilation_rate) != (1, 1):
        return f"{where}: keep the default strides and dilation (1).", None
    if conv.filters != FILTERS[block - 1]:
        return (
            f"the conv blocks have {FILTERS[0]} then {FILTERS[1]} filters; block "
            f"{block} has {conv.filters}."
        ), None
    following = tokens[start + 1 : start + 6]
    activation = _activation_name(conv)
    if activation not in ("linear", None):
        if following[:1] == ["bn"]:
            return (
                f"{where} has activation={activation!r}, so it applies {activation} "
                f"*before* BatchNormalization; leave the conv linear and put ReLU() "
                f"after BatchNormalization(): normalize, then the non-linearity."
            ), None
        return (
            f"{where} has activation={activation!r}; leave the conv linear and "
            f"follow it with BatchNormalization() and ReLU()."
        ), None
    if following[:1] == ["conv"] or (
        following[:2] == ["bn", "relu"] and "conv" in following[2:3]
    ):
        return (
            f"after {where} comes another Conv2D before any pooling; each block "
            f"is Conv2D → BatchNormalization → ReLU → MaxPooling2D → Dropout, "
            f"then the next block."
        ), None
    if following[:2] == ["relu", "bn"]:
        return (
            f"in {where} ReLU comes before BatchNormalization; normalize before "
            f"the non-linearity: Conv2D → BatchNormalization → ReLU."
        ), None
    if following[:1] != ["bn"]:
        return (
            f"{where} should be followed by BatchNormalization(), then ReLU(); it is "
            f"followed by {_names(layers[start + 1 : start + 3])}."
        ), None
    if following[1:2] != ["relu"]:
        return (
            f"{where} has no ReLU after its BatchNormalization; without a "
            f"non-linearity the conv blocks collapse into one linear map: add "
            f"ReLU() after BatchNormalization()."
        ), None
    index = start + 3
    if tokens[index : index + 1] == ["dropout"] and tokens[index + 1 : index + 2] == [
        "pool"
    ]:
        return (
            f"in {where} Dropout comes before MaxPooling2D; the recipe drops after "
            f"pooling: ... → ReLU → MaxPooling2D → Dropout."
        ), None
    if tokens[index : index + 1] != ["pool"]:
        return (
            f"{where} should be followed, after BN and ReLU, by MaxPooling2D(2); it "
            f"is followed by {_names(layers[index : index + 1])}."
        ), None
    pool = layers[index]
    if tuple(pool.pool_size) != (2, 2) or tuple(pool.strides) != (2, 2):
        return f"{where}: pool with MaxPooling2D(2) (2×2, stride 2).", None
    index += 1
    rate = recipe["dropout"]
    if tokens[index : index + 1] == ["spatial dropout"]:
        return (
            f"{where} uses SpatialDropout2D; the recipe's placement 'conv' uses "
            f"Dropout(recipe['dropout']) after each pooling."
        ), None
    if tokens[index : index + 1] == ["dropout"]:
        got = float(layers[index].rate)
        if abs(got - rate) > 1e-9:
            named = (
                " (the lab's recipe value)"
                if abs(got - RECIPE["dropout"]) < 1e-9
                else ""
            )
            return (
                f"{where} drops with rate {got:g}{named}; this recipe's dropout is "
                f"{rate:g}: use Dropout(recipe['dropout'])."
            ), None
        return None, index + 1
    if rate > 0:
        return (
            f"{where} has no Dropout after its pooling; add Dropout(recipe['dropout'])."
        ), None
    return None, index


def _names(layers):
    return ", ".join(type(layer).__name__ for layer in layers) or "nothing"


def _head_mistake(tokens, layers, index):
    rest_tokens, rest = tokens[index:], layers[index:]
    if rest_tokens[:1] != ["flatten"]:
        return f"after the two conv blocks comes Flatten(); found {_names(rest[:1])}."
    dense = [layer for layer in rest if _token(layer) == "dense"]
    if len(dense) != 2:
        return (
            f"the head has two Dense layers ({DENSE_UNITS} units, then "
            f"{NUM_CLASSES}); yours has {len(dense)}."
        )
    hidden = rest[1]
    if rest_tokens[1:2] != ["dense"]:
        return (
            f"Flatten() is followed by Dense({DENSE_UNITS}); found {_names(rest[1:2])}."
        )
    if hidden.units != DENSE_UNITS:
        return (
            f"the hidden Dense layer has {DENSE_UNITS} units; yours has {hidden.units}."
        )
    activation = _activation_name(hidden)
    if activation != "linear":
        if rest_tokens[2:3] == ["bn"]:
            return (
                f"Dense({DENSE_UNITS}) has activation={activation!r}, so it applies "
                f"{activation} *before* BatchNormalization; leave it linear and put "
                f"ReLU() after BatchNormalization()."
            )
        return f"leave Dense({DENSE_UNITS}) linear and follow it with BN and ReLU."
    if rest_tokens[2:4] == ["relu", "bn"]:
        return (
            "in the head ReLU comes before BatchNormalization; normalize first: "
            "Dense → BatchNormalization → ReLU."
        )
    if rest_tokens[2:3] != ["bn"]:
        return (
            f"Dense({DENSE_UNITS}) should be followed by BatchNormalization(); "
            f"found {_names(rest[2:3])}."
        )
    if rest_tokens[3:4] != ["relu"]:
        return (
            "the head has no ReLU after its BatchNormalization: add ReLU() before "
            "the output layer."
        )
    tail_tokens, tail = rest_tokens[4:], rest[4:]
    tail_tokens = [t for t in tail_tokens if t != "identity"]
    output = tail[0] if tail else None
    if not tail_tokens or tail_tokens[0] != "dense":
        return (
            f"after the head's ReLU comes the output layer, Dense({NUM_CLASSES}); "
            f"found {_names(tail[:1])}."
        )
    if output.units != NUM_CLASSES:
        return f"the output layer has {NUM_CLASSES} units; yours has {output.units}."
    softmax = _activation_name(output) == "softmax" or tail_tokens[1:2] == ["softmax"]
    if not softmax:
        return (
            "the output must be class probabilities: Dense(10, "
            "activation='softmax') or a Softmax() layer after it."
        )
    extra = (
        tail_tokens[1:] if _activation_name(output) == "softmax" else tail_tokens[2:]
    )
    if extra:
        return (
            f"the model should end with the softmax output; it continues with {extra}."
        )
    return None


def _bias_mistake(layers, tokens):
    """A Conv2D or Dense layer followed by BN must be built with use_bias=False:
    BN subtracts the mean, so the bias would be a wasted weight."""
    for index, token in enumerate(tokens[:-1]):
        if token in ("conv", "dense") and tokens[index + 1] == "bn":
            layer = layers[index]
            if getattr(layer, "bias", None) is not None:
                return (
                    f"{layer.name} ({type(layer).__name__}) has a bias, but BN "
                    f"follows it and subtracts the mean, which cancels the bias: "
                    f"build it with use_bias=False, as the exercise says."
                )
    return None


def _regularizer_mistake(layers, recipe):
    import keras

    l2 = float(recipe["l2"])
    for layer in layers:
        if _token(layer) not in ("conv", "dense"):
            continue
        if getattr(layer, "activity_regularizer", None) is not None:
            return (
                f"{layer.name} has an activity_regularizer, which penalizes the "
                f"layer's outputs; weight decay penalizes the weights: "
                f"kernel_regularizer=keras.regularizers.L2(recipe['l2'])."
            )
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
        squares = float(np.sum(kernel**2))
        regularizer = layer.kernel_regularizer
        penalty = (
            float(keras.ops.convert_to_numpy(regularizer(layer.kernel)))
            if regularizer is not None
            else 0.0
        )
        if abs(penalty - l2 * squares) <= 1e-4 * max(l2 * squares, 1e-12):
            continue
        if regularizer is None:
            return (
                f"{layer.name} has no kernel_regularizer: every Conv2D and Dense "
                f"kernel gets keras.regularizers.L2(recipe['l2'])."
            )
        factor = penalty / squares if squares else float("nan")
        named = (
            " — the lab's recipe value, not this recipe's"
            if abs(factor - RECIPE["l2"]) < 1e-12
            else ""
        )
        return (
            f"{layer.name}'s kernel_regularizer adds {factor:.3g} × sum(w²){named}; "
            f"this recipe's l2 is {l2:g}: use keras.regularizers.L2(recipe['l2'])."
        )
    return None


def _reference(layers_like, recipe):
    """The recipe's network without augmentation, built here from the spec, with
    a bias wherever the learner's layer has one."""
    import keras

    biases = [
        getattr(layer, "bias", None) is not None
        for layer in layers_like
        if _token(layer) in ("conv", "dense")
    ]
    l2 = keras.regularizers.L2(recipe["l2"]) if recipe["l2"] else None
    model_layers = [keras.Input(INPUT_SHAPE)]
    for index, filters in enumerate(FILTERS):
        model_layers += [
            keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=biases[index],
                kernel_regularizer=l2,
            ),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(recipe["dropout"]),
        ]
    model_layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(DENSE_UNITS, use_bias=biases[2], kernel_regularizer=l2),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Dense(
            NUM_CLASSES, activation="softmax", use_bias=biases[3], kernel_regularizer=l2
        ),
    ]
    return keras.Sequential(model_layers)


def _forward_mismatch(model, layers, recipe, rng):
    """Random weights (BN statistics included) in the learner's model and in the
    reference: in inference mode both must compute the same probabilities."""
    import keras

    reference = _reference(layers, recipe)
    kinds = ("conv", "bn", "dense")
    weighted = [layer for layer in layers if _token(layer) in kinds]
    reference_weighted = [layer for layer in reference.layers if _token(layer) in kinds]
    if [type(a).__name__ for a in weighted] != [
        type(b).__name__ for b in reference_weighted
    ]:
        return "the layers with weights are not the recipe's (Conv2D, BN, Dense)."
    for mine, theirs in zip(weighted, reference_weighted):
        shapes = [tuple(w.shape) for w in mine.get_weights()]
        wanted = [tuple(w.shape) for w in theirs.get_weights()]
        if shapes != wanted:
            return (
                f"{mine.name} holds weights of shapes {shapes}; the recipe's "
                f"{type(theirs).__name__} holds {wanted}."
            )
        values = []
        for weight, variable in zip(mine.get_weights(), mine.weights):
            if "variance" in variable.name:
                values.append(rng.uniform(0.5, 2.0, weight.shape))
            else:
                values.append(rng.normal(0.0, 0.3, weight.shape))
        values = [v.astype(w.dtype) for v, w in zip(values, mine.get_weights())]
        mine.set_weights(values)
        theirs.set_weights(values)
    images = rng.uniform(0, 1, (3, *INPUT_SHAPE)).astype("float32")
    mine = np.asarray(keras.ops.convert_to_numpy(model(images, training=False)))
    again = np.asarray(keras.ops.convert_to_numpy(model(images, training=False)))
    theirs = np.asarray(keras.ops.convert_to_numpy(reference(images, training=False)))
    if not np.allclose(mine, again, atol=1e-6):
        return (
            "your model gives different outputs for the same images in inference "
            "mode; augmentation and dropout must be active only in training."
        )
    if not np.allclose(mine, theirs, rtol=1e-3, atol=1e-5):
        return (
            "with the same weights as the recipe's network, your model computes "
            "other probabilities; compare its layers' settings with the exercise."
        )
    return None


def _check_recipe_model(function, recipe, rng, where):
    import keras

    given = copy.deepcopy(recipe)
    model = _call("Exercise 1", function, given, where=where)
    if given != recipe:
        raise Mistake(f"your function changed the recipe it was given ({where}).")
    if not isinstance(model, keras.Model):
        raise Mistake(
            f"return a Keras model (keras.Sequential([...])); got {describe(model)} "
            f"({where})."
        )
    images = rng.uniform(0, 1, (2, *INPUT_SHAPE)).astype("float32")
    try:
        outputs = keras.ops.convert_to_numpy(model(images, training=False))
    except Exception as error:
        raise Mistake(
            f"your model cannot take a batch of 28×28×1 images "
            f"({type(error).__name__}: {shorten(error, 120)}) ({where})."
        ) from None
    if tuple(np.shape(outputs)) != (2, NUM_CLASSES):
        raise Mistake(
            f"for 2 images the model should output shape (2, {NUM_CLASSES}); yours "
            f"gives {tuple(np.shape(outputs))} ({where})."
        )
    layers = _flat_layers(model)
    tokens = [_token(layer) for layer in layers]
    hint, index = _augmentation_mistake(layers, recipe)
    if hint:
        raise Mistake(f"{hint} ({where})")
    odd = [type(layers[i]).__name__ for i, t in enumerate(tokens) if t == "other"]
    if odd:
        raise Mistake(
            f"the recipe does not use {', '.join(odd)}; build it from Conv2D, "
            f"BatchNormalization, ReLU, MaxPooling2D, Dropout, Flatten and Dense "
            f"({where})."
        )
    for block in (1, 2):
        if tokens[index : index + 1] != ["conv"]:
            raise Mistake(
                f"conv block {block} should start with Conv2D; found "
                f"{_names(layers[index : index + 1])} ({where})."
            )
        hint, index = _block_mistake(tokens, layers, index, recipe, block)
        if hint:
            raise Mistake(f"{hint} ({where})")
    hint = _head_mistake(tokens, layers, index)
    if hint is None:
        hint = _bias_mistake(layers, tokens)
    if hint is None:
        hint = _regularizer_mistake(layers, recipe)
    if hint is None:
        hint = _forward_mismatch(model, layers, recipe, rng)
    if hint:
        raise Mistake(f"{hint} ({where})")


def recipe_model(function, graded: bool = False):
    """Exercise 1: ``function(recipe)`` builds the recipe's CNN by hand."""

    def verify():
        rng = np.random.default_rng()
        recipes = [dict(RECIPE), *_draw_recipes(rng)]
        for recipe in recipes:
            where = (
                f"recipe with augmentation {recipe['augmentation']}, dropout "
                f"{recipe['dropout']:g}, l2 {recipe['l2']:g}"
            )
            _check_recipe_model(function, recipe, rng, where)
        return (
            f"on {len(recipes)} recipes (other augmentation, dropout rates and L2 "
            f"factors than the lab's): augmentation first, then Conv2D → BN → ReLU "
            f"→ pool → Dropout twice, a normalized dense head, the recipe's L2 on "
            f"every kernel, and the recipe's outputs in inference mode."
        )

    return run_check("Exercise 1", verify, graded, TIME_LIMIT_S)


# --- Exercise 2: the ablation's configurations ---


def expected_ablation(recipe):
    variants = {"full recipe": dict(recipe)}
    for technique, off in TURNED_OFF.items():
        variants[f"without {technique}"] = {**recipe, **off}
    return variants


def _same_value(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float | np.number) and isinstance(
        b, int | float | np.number
    ):
        return float(a) == float(b)
    return a == b


def _differences(got: dict, wanted: dict) -> list[str]:
    return sorted(
        str(key)
        for key in set(got) | set(wanted)
        if key not in got or key not in wanted or not _same_value(got[key], wanted[key])
    )


def _draw_ablation_recipes(rng):
    recipes = [copy.deepcopy(RECIPE)]
    for recipe in _draw_recipes(rng):
        recipe["augmentation"] = recipe["augmentation"] or ["flip"]
        recipe["dropout_placement"] = str(rng.choice(["conv", "head", "both"]))
        if rng.random() < 0.5:
            recipe["width"] = float(rng.choice([0.5, 0.75]))
        recipes.append(recipe)
    return recipes


def ablation_configs(function, graded: bool = False):
    """Exercise 2: ``function(recipe)`` returns the ablation's configurations."""

    def verify():
        rng = np.random.default_rng()
        for recipe in _draw_ablation_recipes(rng):
            where = (
                f"recipe with dropout {recipe['dropout']:g}, l2 {recipe['l2']:g}, "
                f"augmentation {recipe['augmentation']}"
            )
            given = copy.deepcopy(recipe)
            answer = _call("Exercise 2", function, given, where=where)
            if given != recipe:
                changed = _differences(given, recipe)
                raise Mistake(
                    f"your function changed the recipe it was given ({changed}); "
                    f"build each variant as a new dict, e.g. `{{**recipe, "
                    f"'dropout': 0.0}}`, and never modify recipe's own values "
                    f"({where})."
                )
            if not isinstance(answer, dict):
                raise Mistake(
                    f"return a dict from variant name to configuration; got "
                    f"{describe(answer)} ({where})."
                )
            expected = expected_ablation(recipe)
            missing = [name for name in expected if name not in answer]
            extra = [name for name in answer if name not in expected]
            if missing or extra:
                raise Mistake(
                    f"the variants should be named {list(expected)}; missing "
                    f"{missing}, unexpected {extra}."
                )
            for name, config in expected.items():
                got = answer[name]
                if not isinstance(got, dict):
                    raise Mistake(
                        f"{name!r} should be a dict of build_cnn arguments; got "
                        f"{describe(got)} ({where})."
                    )
                changed = _differences(got, config)
                if name == "without augmentation" and changed == ["augmentation"]:
                    if isinstance(got["augmentation"], list | tuple) and not len(
                        got["augmentation"]
                    ):
                        changed = []  # () is build_cnn's own default: no augmentation
                if not changed:
                    continue
                lab_values = [
                    key
                    for key in changed
                    if key in RECIPE
                    and key in got
                    and _same_value(got[key], RECIPE[key])
                    and not _same_value(recipe.get(key), RECIPE[key])
                ]
                if lab_values:
                    raise Mistake(
                        f"{name!r} has the lab's own {lab_values} instead of the "
                        f"values of the recipe it was given; build each variant from "
                        f"`recipe` ({where})."
                    )
                if name == "full recipe":
                    raise Mistake(
                        f"'full recipe' must be the recipe unchanged; these differ: "
                        f"{changed} ({where})."
                    )
                technique = name.removeprefix("without ")
                turned_off = TURNED_OFF[technique]
                for key, value in turned_off.items():
                    if key not in got:
                        raise Mistake(
                            f"{name!r} has no {key!r}; keep every key of the recipe "
                            f"and set {key}={value!r} ({where})."
                        )
                    if _same_value(got[key], recipe.get(key)):
                        raise Mistake(
                            f"{name!r} still uses {technique}: set {key}={value!r} "
                            f"({where})."
                        )
                    if key in changed:
                        raise Mistake(
                            f"{name!r} sets {key}={got[key]!r}; build_cnn turns "
                            f"{technique} off with {key}={value!r} ({where})."
                        )
                raise Mistake(
                    f"{name!r} should differ from the recipe only in "
                    f"{list(turned_off)}; these differ too: "
                    f"{[k for k in changed if k not in turned_off]} ({where})."
                )
        return (
            "the full recipe and one variant without each technique, each differing "
            "from the recipe it was given in exactly one setting (on recipes with "
            "other rates, L2 factors and keys than the lab's); the recipe left "
            "untouched."
        )

    return run_check("Exercise 2", verify, graded, TIME_LIMIT_S)


# --- Exercise 3: read the ablation over seeds ---


def _records_of(runs):
    if hasattr(runs, "records"):
        runs = runs.records
    elif isinstance(runs, dict) or hasattr(runs, "record"):
        runs = [runs]
    return [dict(getattr(run, "record", run)) for run in runs]


def _compare(control, treatment, metric):
    from utils import evaluation

    return evaluation.compare(
        control,
        treatment,
        metric,
        control_name="without it",
        treatment_name="the full recipe",
    )


def reference_reading(ablation, metric="val_accuracy"):
    """The technique whose removal measurably lowered ``metric`` the most, or
    ``"none"`` when no removal did.

    For each technique, compare the runs without it (control) with the full
    recipe (treatment): "helped" means the full recipe did measurably better, so
    removing the technique cost accuracy.
    """
    full = ablation["full recipe"]
    costs = {}
    for technique in TECHNIQUES:
        comparison = _compare(ablation[f"without {technique}"], full, metric)
        if comparison.verdict == "helped":
            costs[technique] = comparison.difference
    return max(costs, key=costs.get) if costs else NONE


def _record(seed, val, test, train):
    return {
        "seed": seed,
        "val_accuracy": round(float(val), 5),
        "test_accuracy": round(float(test), 5),
        "train_accuracy": round(float(train), 5),
        "generalization_gap": round(float(train - test), 5),
    }


# Per plan, for four technique slots: the cost of removing each (full minus
# without) in validation accuracy by seed, in test and in training accuracy;
# chosen so that every way of reading the three ablations (`_reading_strategies`)
# gives answers that differ from every other in at least two of them.
_PLANS = [
    {
        "val": [
            [0.04, 0.042, 0.038, 0.041],  # measurable, the largest measurable
            [0.015, 0.016, 0.014, 0.015],  # measurable, smaller
            [0.16, -0.06, 0.13, -0.04],  # largest mean, not measurable
            [-0.02, -0.021, -0.019, -0.02],  # removing it helped
        ],
        "test": [0.0, 0.03, -0.01, 0.015],
        "train": [0.03, -0.01, 0.0, 0.015],
    },
    {
        "val": [
            [-0.01, -0.011, -0.009, -0.01],
            [-0.03, -0.031, -0.029, -0.03],
            [-0.02, 0.01, -0.015, 0.005],
            [-0.004, -0.006, -0.005, -0.005],  # the smallest gain
        ],
        "test": [0.03, 0.0, 0.015, -0.01],
        "train": [0.03, 0.0, -0.01, 0.015],
    },
    {
        "val": [
            [0.012, 0.013, 0.011, 0.012],
            [0.03, 0.031, 0.029, 0.03],  # the largest measurable
            [-0.04, -0.041, -0.039, -0.04],
            [0.09, -0.05, 0.1, -0.06],  # not measurable
        ],
        "test": [0.0, 0.03, 0.015, -0.01],
        "train": [0.0, 0.015, -0.01, 0.03],
    },
]


def _ablation_sets(rng):
    """Ablation record sets on which each way of reading them differs, and no
    typical mistake gives the same answer on every set."""
    strategies = _reading_strategies()
    while True:
        sets = _draw_ablation_sets(rng)
        readings = [tuple(read(s) for s in sets) for read in strategies.values()]
        if len(set(readings)) == len(readings) and all(
            len(set(reading)) > 1 for reading in readings
        ):
            return sets


def _draw_ablation_sets(rng):
    sets = []
    for plan in _PLANS:
        slots = [str(t) for t in rng.permutation(TECHNIQUES)]
        seeds = sorted(int(s) for s in rng.choice(30, size=4, replace=False))
        base_val = rng.uniform(0.82, 0.88) + rng.normal(0, 0.006, len(seeds))
        base_test = base_val + rng.normal(0, 0.003, len(seeds))
        base_train = base_val + rng.uniform(0.0, 0.04)
        ablation = {
            "full recipe": [
                _record(s, v, t, tr)
                for s, v, t, tr in zip(seeds, base_val, base_test, base_train)
            ]
        }
        for slot, technique in enumerate(slots):
            jitter = rng.normal(0, 0.0005, (3, len(seeds)))
            records = [
                _record(
                    s,
                    v - plan["val"][slot][i] + jitter[0, i],
                    t - plan["test"][slot] + jitter[1, i],
                    tr - plan["train"][slot] + jitter[2, i],
                )
                for i, (s, v, t, tr) in enumerate(
                    zip(seeds, base_val, base_test, base_train)
                )
            ]
            order = rng.permutation(len(records))  # paired by seed, not by place
            ablation[f"without {technique}"] = [records[i] for i in order]
        order = rng.permutation(len(ablation))
        names = list(ablation)
        sets.append({names[i]: ablation[names[i]] for i in order})
    return [sets[i] for i in rng.permutation(len(sets))]


def _mean_costs(ablation, metric):
    full = np.mean([r[metric] for r in ablation["full recipe"]])
    return {
        t: full - np.mean([r[metric] for r in ablation[f"without {t}"]])
        for t in TECHNIQUES
    }


def _reading_strategies():
    def largest(metric):
        return lambda a: max(_mean_costs(a, metric), key=_mean_costs(a, metric).get)

    def smallest_measurable(a):
        full = a["full recipe"]
        costs = {}
        for t in TECHNIQUES:
            comparison = _compare(a[f"without {t}"], full, "val_accuracy")
            if comparison.verdict == "helped":
                costs[t] = comparison.difference
        return min(costs, key=costs.get) if costs else NONE

    def first_seed(a):
        seed = min(r["seed"] for r in a["full recipe"])

        def at(records):
            return next(r["val_accuracy"] for r in records if r["seed"] == seed)

        full = at(a["full recipe"])
        costs = {t: full - at(a[f"without {t}"]) for t in TECHNIQUES}
        return max(costs, key=costs.get)

    def gap(a):
        costs = _mean_costs(a, "generalization_gap")  # full gap minus without
        return min(costs, key=costs.get)

    return {
        "right": reference_reading,
        "test": lambda a: reference_reading(a, "test_accuracy"),
        "train": lambda a: reference_reading(a, "train_accuracy"),
        "means": largest("val_accuracy"),
        "smallest": lambda a: min(
            _mean_costs(a, "val_accuracy"), key=_mean_costs(a, "val_accuracy").get
        ),
        "smallest measurable": smallest_measurable,
        "first seed": first_seed,
        "gap": gap,
    }


READING_HINTS = {
    "test": (
        "your answers follow *test* accuracy; read the ablation on validation "
        "accuracy and keep the test set for the end."
    ),
    "train": (
        "your answers follow *training* accuracy; what matters is accuracy on "
        "unseen data: validation."
    ),
    "means": (
        "you took the largest drop in mean validation accuracy, whatever its "
        "interval: a drop counts only when compare's 95 % interval excludes 0 "
        "(verdict 'helped' for the full recipe against the variant), and when no "
        "removal measurably lowered validation accuracy the answer is 'none'."
    ),
    "smallest": (
        "your answers name the technique whose removal cost the *least* — or "
        "raised validation accuracy the most, which is what compare(full, "
        "without) reports as 'helped': compare the runs without the technique "
        "(control) with the full recipe (treatment) and look for the largest "
        "measurable drop."
    ),
    "smallest measurable": (
        "among the measurable drops you took the smallest; take the largest."
    ),
    "first seed": (
        "your answers follow the first seed alone; one seed never decides — "
        "compare the groups over all their seeds."
    ),
    "gap": (
        "your answers follow the generalization gap; the question is which "
        "removal cost validation accuracy."
    ),
}


# A fixed ablation (cost of removing each technique, by seed, in TECHNIQUES
# order): every removal measurably hurts; the largest drop is neither the first
# nor the last and has the widest interval, so the largest lower end (`.low`)
# belongs to another technique.
_FIXED_COSTS = {
    "augmentation": [0.015, 0.016, 0.014, 0.015],
    "normalization": [0.02, 0.08, 0.03, 0.07],
    "dropout": [0.03, 0.031, 0.029, 0.03],
    "weight decay": [0.01, 0.011, 0.009, 0.01],
}


def _fixed_ablation():
    seeds = (3, 7, 11, 19)
    base = (0.85, 0.86, 0.84, 0.855)
    ablation = {
        "full recipe": [_record(s, v, v - 0.002, v + 0.03) for s, v in zip(seeds, base)]
    }
    for technique in TECHNIQUES:
        ablation[f"without {technique}"] = [
            _record(s, v - c, v - 0.002 - c, v + 0.03 - c)
            for s, v, c in zip(seeds, base, _FIXED_COSTS[technique])
        ]
    return ablation


def _fixed_readings(ablation):
    helped = {}
    for technique in TECHNIQUES:
        comparison = _compare(
            ablation[f"without {technique}"], ablation["full recipe"], "val_accuracy"
        )
        if comparison.verdict == "helped":
            helped[technique] = comparison
    return {
        "largest low": max(helped, key=lambda t: helped[t].low),
        "first helped": next(iter(helped)),
        "last helped": list(helped)[-1],
    }


_FIXED_HINTS = {
    "largest low": (
        "you ranked the drops by the lower end of their interval (`.low`); rank "
        "the measurable drops by compare's `.difference`"
    ),
    "first helped": (
        "you returned the first technique whose removal measurably hurt; compare "
        "every technique and take the largest measurable difference"
    ),
    "last helped": (
        "you returned the last technique whose removal measurably hurt; compare "
        "every technique and take the largest measurable difference"
    ),
}


def _check_fixed_ablation(ask, named_only=False):
    """Raise a Mistake when ``ask`` reads the fixed ablation wrongly; with
    ``named_only``, only when the answer matches a named ranking mistake."""
    ablation = _fixed_ablation()
    where = "a fixed ablation where every removal measurably hurt"
    answer = ask(ablation, where)
    expected = reference_reading(ablation)
    if answer == expected:
        return
    for name, reading in _fixed_readings(ablation).items():
        if answer == reading:
            raise Mistake(f"{_FIXED_HINTS[name]} ({where}).")
    if named_only:
        return
    raise Mistake(
        f"you answered {answer!r}; removing {expected} measurably lowered "
        f"validation accuracy the most ({where})."
    )


def _technique_answer(answer, where):
    if not isinstance(answer, str):
        raise Mistake(
            f"return the technique's name as text (e.g. 'dropout'), or 'none'; got "
            f"{describe(answer)} ({where})."
        )
    name = answer
    if name.startswith("without "):
        raise Mistake(
            f"return the technique's name, {name.removeprefix('without ')!r}, not "
            f"the variant's name {answer!r} ({where})."
        )
    if name.strip().lower() in ("nothing", "no technique"):
        raise Mistake(
            f"when no removal measurably lowered validation accuracy, return "
            f"exactly 'none'; got {answer!r} ({where})."
        )
    if name == NONE:
        return NONE
    if name not in TECHNIQUES:
        raise Mistake(
            f"return one of {list(TECHNIQUES)} or 'none'; got {answer!r} ({where})."
        )
    return name


def most_important_technique(function, ablation=None, graded: bool = False):
    """Exercise 3: ``function(ablation)`` names the technique whose removal
    measurably lowered validation accuracy the most, or "none".

    ``ablation`` maps each variant's name to its runs over seeds. The check
    meets generated ablations first; ``ablation`` (optional) is the learner's
    own (RunGroups or lists of records), read as `reference_reading` reads it.
    """

    def ask(records, where):
        given = copy.deepcopy(records)
        answer = _call("Exercise 3", function, given, where=where)
        if given != records:
            raise Mistake(
                f"your function changed the records it was given ({where}); read "
                f"them without modifying them."
            )
        return _technique_answer(answer, where)

    def verify():
        rng = np.random.default_rng()
        sets = _ablation_sets(rng)
        strategies = _reading_strategies()
        readings = {name: [read(s) for s in sets] for name, read in strategies.items()}
        answers = [ask(s, f"ablation {i + 1}") for i, s in enumerate(sets)]
        if answers != readings["right"]:
            if len(set(answers)) == 1:
                raise Mistake(
                    f"you answered {answers[0]!r} for every ablation; the answer must "
                    f"come from the records."
                )
            for name, hint in READING_HINTS.items():
                if answers == readings[name]:
                    raise Mistake(hint)
            _check_fixed_ablation(ask, named_only=True)
            index = next(
                i for i, (a, b) in enumerate(zip(answers, readings["right"])) if a != b
            )
            expected = readings["right"][index]
            if expected == NONE:
                raise Mistake(
                    f"in ablation {index + 1} no removal measurably lowered "
                    f"validation accuracy (compare's verdict for the full recipe "
                    f"against each variant is never 'helped'), so the answer is "
                    f"'none'; you answered {answers[index]!r}."
                )
            raise Mistake(
                f"in ablation {index + 1} you answered {answers[index]!r}; removing "
                f"{expected} measurably lowered validation accuracy the most."
            )
        _check_fixed_ablation(ask)
        own = ""
        if ablation is not None:
            records = {name: _records_of(runs) for name, runs in ablation.items()}
            missing = [
                name
                for name in ("full recipe", *(f"without {t}" for t in TECHNIQUES))
                if name not in records
            ]
            if missing:
                raise Mistake(f"the ablation given to the check lacks {missing}.")
            answer = ask(records, "your own ablation")
            expected = reference_reading(records)
            if answer != expected:
                raise Mistake(
                    f"on your own ablation you answered {answer!r}, but compare() "
                    f"gives {expected!r}: " + _own_summary(records)
                )
            own = f" On your own ablation: {answer!r}."
        return (
            f"your reading follows validation accuracy and compare's interval on "
            f"{len(sets)} generated ablations, including one where no removal "
            f"measurably hurt, and on a fixed one whose largest drop has the widest "
            f"interval.{own}"
        )

    return run_check("Exercise 3", verify, graded, TIME_LIMIT_S)


def _own_summary(records):
    lines = []
    for technique in TECHNIQUES:
        comparison = _compare(
            records[f"without {technique}"], records["full recipe"], "val_accuracy"
        )
        lines.append(f"without {technique}: {comparison.verdict}")
    return "; ".join(lines) + "."
