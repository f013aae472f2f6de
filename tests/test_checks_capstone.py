"""Capstone lab checks: the right answers pass, typical mistakes get a hint."""

import keras
import pytest
from check_helpers import assert_passes, assert_rejected

from utils import models
from utils.checks import capstone as lab

# --- Exercise 1: the recipe's model by hand ---


def build_recipe_model(
    recipe, order=("bn", "relu"), dropout=None, l2=None, filters=(32, 64)
):
    l2 = keras.regularizers.L2(recipe["l2"] if l2 is None else l2)
    layers = [keras.Input((28, 28, 1))]
    layers += models.augmentation_layers(recipe["augmentation"], seed=recipe["seed"])
    for count in filters:
        block = {
            "bn": keras.layers.BatchNormalization(),
            "relu": keras.layers.ReLU(),
        }
        layers.append(
            keras.layers.Conv2D(
                count, 3, padding="same", use_bias=False, kernel_regularizer=l2
            )
        )
        layers += [block[name] for name in order]
        layers += [
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(recipe["dropout"] if dropout is None else dropout),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(128, use_bias=False, kernel_regularizer=l2),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Dense(10, activation="softmax", kernel_regularizer=l2),
    ]
    return keras.Sequential(layers)


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.recipe_model, build_recipe_model, capsys, "Exercise 1")


def test_exercise_1_accepts_the_course_builder(capsys):
    assert_passes(
        lab.recipe_model,
        lambda recipe: models.build_cnn(**recipe),
        capsys,
        "Exercise 1",
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "relu_before_batch_norm",
            lambda recipe: build_recipe_model(recipe, order=("relu", "bn")),
            "followed by BatchNormalization",
        ),
        (
            "no_augmentation",
            lambda recipe: build_recipe_model({**recipe, "augmentation": []}),
            "augmentation layers",
        ),
        (
            "fixed_dropout_rate",
            lambda recipe: build_recipe_model(recipe, dropout=0.5),
            "dropout rate",
        ),
        (
            "no_weight_decay",
            lambda recipe: build_recipe_model(recipe, l2=0.0),
            "kernel_regularizer",
        ),
        (
            "wrong_filters",
            lambda recipe: build_recipe_model(recipe, filters=(16, 32)),
            "filters",
        ),
        ("not_a_model", lambda recipe: [keras.layers.Dense(10)], "Keras model"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_1_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.recipe_model, answer, capsys, hint)


# --- Exercise 2: the ablation's configurations ---


def ablation_configs(recipe):
    return {
        "full recipe": dict(recipe),
        "without augmentation": {**recipe, "augmentation": []},
        "without normalization": {**recipe, "normalization": None},
        "without dropout": {**recipe, "dropout": 0.0},
        "without weight decay": {**recipe, "l2": 0.0},
    }


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.ablation_configs, ablation_configs, capsys, "Exercise 2")


def in_place(recipe):
    variants = {"full recipe": recipe}
    for name, key, value in (
        ("augmentation", "augmentation", []),
        ("normalization", "normalization", None),
        ("dropout", "dropout", 0.0),
        ("weight decay", "l2", 0.0),
    ):
        recipe[key] = value  # changes the recipe itself
        variants[f"without {name}"] = dict(recipe)
    return variants


def cumulative(recipe):
    variants = ablation_configs(recipe)
    variants["without dropout"] = {**variants["without normalization"], "dropout": 0.0}
    return variants


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("changes_the_recipe", in_place, "changed the recipe"),
        ("removes_two_techniques", cumulative, "only in"),
        (
            "keeps_the_technique",
            lambda recipe: {
                **ablation_configs(recipe),
                "without dropout": dict(recipe),
            },
            "still uses dropout",
        ),
        (
            "missing_a_variant",
            lambda recipe: {
                k: v for k, v in ablation_configs(recipe).items() if "weight" not in k
            },
            "missing ['without weight decay']",
        ),
        ("a_list", lambda recipe: list(ablation_configs(recipe).values()), "dict"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.ablation_configs, answer, capsys, hint)


# --- Exercise 3: read the ablation ---


def largest_drop(records, key):
    full = records["full recipe"][key]
    drops = {
        name.removeprefix("without "): full - record[key]
        for name, record in records.items()
        if name != "full recipe"
    }
    return max(drops, key=drops.get)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(
        lab.most_important_technique,
        lambda records: largest_drop(records, "val_accuracy"),
        capsys,
        "Exercise 3",
    )


def test_exercise_3_records_separate_every_reading():
    records = lab._records()
    readings = {
        largest_drop(records, key)
        for key in ("val_accuracy", "test_accuracy", "train_accuracy")
    }
    assert len(readings) == 3


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "reads_test_accuracy",
            lambda records: largest_drop(records, "test_accuracy"),
            "*test* accuracy",
        ),
        (
            "reads_training_accuracy",
            lambda records: largest_drop(records, "train_accuracy"),
            "*training* accuracy",
        ),
        (
            "smallest_drop",
            lambda records: min(
                (n.removeprefix("without ") for n in records if n != "full recipe"),
                key=lambda t: records["full recipe"]["val_accuracy"]
                - records[f"without {t}"]["val_accuracy"],
            ),
            "*least*",
        ),
        ("returns_a_number", lambda records: 0.018, "string"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.most_important_technique, answer, capsys, hint)
