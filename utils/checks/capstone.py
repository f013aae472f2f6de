"""Self-checks of the capstone lab (solutions/06_capstone_lab.ipynb)."""

from __future__ import annotations

import copy

from utils.checks import Mistake, call_answer, run_check

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


def expected_ablation(recipe):
    variants = {"full recipe": dict(recipe)}
    for technique, off in TURNED_OFF.items():
        variants[f"without {technique}"] = {**recipe, **off}
    return variants


def _layer_summary(model):
    return [type(layer).__name__ for layer in model.layers]


def _expected_types(recipe):
    from utils import models

    reference = models.build_cnn(**recipe)
    return _layer_summary(reference), reference


def recipe_model(function, graded: bool = False):
    """Exercise 1: ``function(recipe)`` builds the recipe's CNN by hand."""

    def verify():
        import keras

        for recipe in (RECIPE, {**RECIPE, "augmentation": ["flip"], "dropout": 0.3}):
            model = call_answer("Exercise 1", function, copy.deepcopy(recipe))
            if not isinstance(model, keras.Model):
                raise Mistake(
                    f"return a Keras model (keras.Sequential([...])), got "
                    f"{type(model).__name__}."
                )
            expected, reference = _expected_types(recipe)
            types = _layer_summary(model)
            n_augment = len(recipe["augmentation"])
            if types[:n_augment] != expected[:n_augment]:
                raise Mistake(
                    f"start with the augmentation layers {expected[:n_augment]} "
                    f"(`utils.models.augmentation_layers(recipe['augmentation'])`); "
                    f"got {types[:n_augment]}."
                )
            conv_blocks = [i for i, t in enumerate(types) if t == "Conv2D"]
            for index in conv_blocks:
                if types[index + 1 : index + 3] != ["BatchNormalization", "ReLU"]:
                    raise Mistake(
                        "each Conv2D should be followed by BatchNormalization, then "
                        "ReLU (normalize before the non-linearity)."
                    )
            if types != expected:
                raise Mistake(
                    f"the layers should be {expected}; got {types}. Check the order "
                    f"of pooling and dropout in each block and the dense head."
                )
            for layer, ref in zip(model.layers, reference.layers):
                if type(layer).__name__ in ("Conv2D", "Dense"):
                    regularizer = layer.kernel_regularizer
                    factor = getattr(regularizer, "l2", None)
                    if factor is None or abs(float(factor) - recipe["l2"]) > 1e-12:
                        raise Mistake(
                            f"{layer.name} needs kernel_regularizer="
                            f"keras.regularizers.L2({recipe['l2']:g})."
                        )
                if (
                    type(layer).__name__ == "Dropout"
                    and abs(layer.rate - recipe["dropout"]) > 1e-12
                ):
                    raise Mistake(
                        f"use the recipe's dropout rate {recipe['dropout']}, got "
                        f"{layer.rate}."
                    )
                if type(layer).__name__ == "Conv2D" and layer.filters != ref.filters:
                    raise Mistake(
                        f"the conv layers have {reference.get_layer('conv1').filters} "
                        f"and {reference.get_layer('conv2').filters} filters."
                    )
            if model.output_shape != (None, 10):
                raise Mistake(
                    f"the model should output 10 class probabilities, got shape "
                    f"{model.output_shape}."
                )
        return (
            "augmentation first, then conv → BN → ReLU → pool → dropout blocks with L2 "
            "on every kernel, and a normalized dense head: the recipe, by hand."
        )

    return run_check("Exercise 1", verify, graded)


def ablation_configs(function, graded: bool = False):
    """Exercise 2: ``function(recipe)`` returns the ablation's configurations."""

    def verify():
        for recipe in (RECIPE, {**RECIPE, "dropout": 0.5, "l2": 1e-4}):
            given = copy.deepcopy(recipe)
            answer = call_answer("Exercise 2", function, given)
            if given != recipe:
                raise Mistake(
                    "your function changed the recipe it was given; build each "
                    "variant from a copy, e.g. `{**recipe, 'dropout': 0.0}`."
                )
            if not isinstance(answer, dict):
                raise Mistake(
                    f"return a dict from variant name to configuration, got "
                    f"{type(answer).__name__}."
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
                if answer[name] == config:
                    continue
                got = answer[name]
                if not isinstance(got, dict):
                    raise Mistake(f"{name!r} should be a dict of build_cnn arguments.")
                changed = sorted(
                    key
                    for key in set(got) | set(config)
                    if got.get(key) != config.get(key)
                )
                if name == "full recipe":
                    raise Mistake(
                        f"'full recipe' must be the recipe unchanged; these differ: "
                        f"{changed}."
                    )
                technique = name.removeprefix("without ")
                turned_off = TURNED_OFF[technique]
                if any(got.get(key) == recipe.get(key) for key in turned_off):
                    raise Mistake(
                        f"{name!r} still uses {technique}: set "
                        + ", ".join(f"{k}={v!r}" for k, v in turned_off.items())
                        + "."
                    )
                raise Mistake(
                    f"{name!r} should differ from the recipe only in "
                    f"{list(turned_off)}; these differ: {changed}."
                )
        return (
            "the full recipe and one variant without each technique, each differing "
            "from the recipe in exactly one setting; the recipe left untouched."
        )

    return run_check("Exercise 2", verify, graded)


def _records():
    # Built so that the largest drop in validation, test and training accuracy
    # and the largest gap change fall on different variants.
    rows = {
        "full recipe": (0.90, 0.880, 0.878),
        "without augmentation": (0.85, 0.876, 0.870),
        "without normalization": (0.89, 0.862, 0.872),
        "without dropout": (0.93, 0.874, 0.860),
        "without weight decay": (0.88, 0.878, 0.875),
    }
    return {
        name: {
            "name": name,
            "train_accuracy": train,
            "val_accuracy": val,
            "test_accuracy": test,
            "generalization_gap": train - test,
        }
        for name, (train, val, test) in rows.items()
    }


def most_important_technique(function, graded: bool = False):
    """Exercise 3: ``function(records)`` names the technique whose removal cost
    the most validation accuracy."""

    def verify():
        records = _records()
        answer = call_answer(
            "Exercise 3", function, {name: dict(r) for name, r in records.items()}
        )
        if not isinstance(answer, str):
            raise Mistake(
                f"return the technique's name as a string, e.g. 'dropout'; got "
                f"{type(answer).__name__}."
            )
        answer = answer.removeprefix("without ").strip()
        full = records["full recipe"]

        def largest_drop(key):
            drops = {
                name.removeprefix("without "): full[key] - record[key]
                for name, record in records.items()
                if name != "full recipe"
            }
            return max(drops, key=drops.get)

        if answer == largest_drop("val_accuracy"):
            return (
                f"removing {answer} cost the most validation accuracy; the test set "
                f"played no part in the reading."
            )
        if answer == largest_drop("test_accuracy"):
            raise Mistake(
                "that technique's removal cost the most *test* accuracy; read the "
                "ablation on validation accuracy, keep the test set for the end."
            )
        if answer == largest_drop("train_accuracy"):
            raise Mistake(
                "that is the largest drop in *training* accuracy; what matters is "
                "accuracy on unseen data: validation."
            )
        if answer == min(
            (n.removeprefix("without ") for n in records if n != "full recipe"),
            key=lambda t: full["val_accuracy"]
            - records[f"without {t}"]["val_accuracy"],
        ):
            raise Mistake(
                "that is the technique whose removal cost the *least*; look for the "
                "largest drop from the full recipe."
            )
        raise Mistake(
            f"{answer!r} is not the technique whose removal lowered validation "
            f"accuracy the most."
        )

    return run_check("Exercise 3", verify, graded)
