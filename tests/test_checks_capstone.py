"""Capstone lab checks: right answers in every equivalent form pass, typical
mistakes are rejected with a hint that names them, nothing crashes or hangs."""

import copy
import re

import keras
import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected, assert_verdict_line

from utils import evaluation, models
from utils.checks import capstone as lab
from utils.training import Run, RunGroup

# --- Exercise 1: the recipe's model by hand ---


def build_recipe_model(
    recipe,
    order=("bn", "relu"),
    conv_activation=None,
    kernel_size=3,
    padding="same",
    l2=None,
    rate=None,
    augmentation=None,
    stacked=False,
    head_activation=None,
    head_bn=True,
    softmax="activation",
    dropout_first=False,
    dropout_layer=keras.layers.Dropout,
    relu=keras.layers.ReLU,
    use_bias=False,
    functional=False,
    nested_augmentation=False,
    regularizer="kernel",
):
    """The recipe's CNN written from the exercise's text, with a knob per mistake."""
    factor = recipe["l2"] if l2 is None else l2
    penalty = {f"{regularizer}_regularizer": keras.regularizers.L2(factor)}
    names = recipe["augmentation"] if augmentation is None else augmentation
    augment = models.augmentation_layers(names, seed=recipe["seed"])
    layers = [keras.Sequential(augment)] if nested_augmentation and augment else augment
    rate = recipe["dropout"] if rate is None else rate
    postponed = []
    for filters in (16, 32):
        layers.append(
            keras.layers.Conv2D(
                filters,
                kernel_size,
                padding=padding,
                use_bias=use_bias,
                activation=conv_activation,
                **penalty,
            )
        )
        parts = {"bn": keras.layers.BatchNormalization, "relu": relu}
        layers += [parts[name]() for name in order]
        block = [keras.layers.MaxPooling2D(2), dropout_layer(rate)]
        if dropout_first:
            block.reverse()
        if stacked:
            postponed += block
        else:
            layers += block
    layers += postponed
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(
            128, use_bias=use_bias, activation=head_activation, **penalty
        ),
    ]
    if head_bn:
        layers.append(keras.layers.BatchNormalization())
    layers.append(relu())
    if softmax == "layer":
        layers += [keras.layers.Dense(10, **penalty), keras.layers.Softmax()]
    else:
        layers.append(
            keras.layers.Dense(10, activation="softmax" if softmax else None, **penalty)
        )
    if functional:
        inputs = x = keras.Input((28, 28, 1))
        for layer in layers:
            x = layer(x)
        return keras.Model(inputs, x)
    return keras.Sequential([keras.Input((28, 28, 1)), *layers])


@pytest.mark.parametrize(
    "answer",
    [
        build_recipe_model,
        lambda r: build_recipe_model(
            r, functional=True, nested_augmentation=True, softmax="layer"
        ),
        lambda r: build_recipe_model(r, relu=lambda: keras.layers.Activation("relu")),
    ],
    ids=[
        "sequential",
        "functional_nested_augmentation_softmax_layer",
        "activation_layers",
    ],
)
def test_exercise_1_accepts_every_equivalent_model(answer, capsys):
    assert_passes(lab.recipe_model, answer, capsys, "Exercise 1")


def test_exercise_1_tries_recipes_unlike_the_labs():
    recipes = []

    def spy(recipe):
        recipes.append(copy.deepcopy(recipe))
        return build_recipe_model(recipe)

    assert lab.recipe_model(spy)
    assert recipes[0] == lab.RECIPE
    others = recipes[1:]
    assert others and all(r["l2"] != lab.RECIPE["l2"] for r in others)
    assert all(r["dropout"] != lab.RECIPE["dropout"] for r in others)
    assert any(r["augmentation"] != lab.RECIPE["augmentation"] for r in others)


def test_exercise_1_expected_structure_agrees_with_the_course_builder(capsys):
    """The check spells out the recipe's layers itself (it does not build the
    expected model with build_cnn); the course's builder meets that spec."""
    assert_passes(
        lab.recipe_model,
        lambda recipe: models.build_cnn(**recipe),
        capsys,
        "Exercise 1",
    )


def recipe_changed(recipe):
    seed = recipe.pop("seed")
    return build_recipe_model({**recipe, "seed": seed})


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "biases_before_batch_norm",
            lambda r: build_recipe_model(r, use_bias=True),
            ("has a bias", "use_bias=False"),
        ),
        (
            "augmentation_seed_ignored",
            lambda r: build_recipe_model({**r, "seed": None}),
            ("seed None", "seed=recipe['seed']"),
        ),
        (
            "augmentation_seed_of_the_lab_written_in",
            lambda r: build_recipe_model({**r, "seed": 0}),
            ("has seed 0", "seed=recipe['seed']"),
        ),
        (
            "conv_activation_before_batch_norm",
            lambda r: build_recipe_model(r, conv_activation="relu"),
            ("activation='relu'", "*before* BatchNormalization"),
        ),
        (
            "conv_activation_instead_of_relu_layer",
            lambda r: build_recipe_model(r, conv_activation="relu", order=("bn",)),
            ("*before* BatchNormalization",),
        ),
        (
            "relu_before_batch_norm",
            lambda r: build_recipe_model(r, order=("relu", "bn")),
            ("ReLU comes before BatchNormalization",),
        ),
        (
            "no_relu",
            lambda r: build_recipe_model(r, order=("bn",)),
            ("no ReLU",),
        ),
        (
            "no_batch_norm",
            lambda r: build_recipe_model(r, order=("relu",)),
            ("followed by BatchNormalization",),
        ),
        (
            "five_by_five_valid",
            lambda r: build_recipe_model(r, kernel_size=5, padding="valid"),
            ("5×5", "3×3", "padding='same'"),
        ),
        (
            "valid_padding",
            lambda r: build_recipe_model(r, padding="valid"),
            ("padding='valid'",),
        ),
        (
            "conv_conv_pool_pool",
            lambda r: build_recipe_model(r, stacked=True),
            ("another Conv2D before any pooling",),
        ),
        (
            "l2_of_the_lab_written_in",
            lambda r: build_recipe_model(r, l2=1e-5),
            ("lab's recipe value", "recipe['l2']"),
        ),
        (
            "no_weight_decay",
            lambda r: build_recipe_model(r, l2=0.0),
            ("kernel_regularizer",),
        ),
        (
            "activity_regularizer",
            lambda r: build_recipe_model(r, regularizer="activity"),
            ("activity_regularizer",),
        ),
        (
            "dropout_of_the_lab_written_in",
            lambda r: build_recipe_model(r, rate=0.2),
            ("rate 0.2", "recipe['dropout']"),
        ),
        (
            "augmentation_of_the_lab_written_in",
            lambda r: build_recipe_model(r, augmentation=["flip", "shift_flip"]),
            ("recipe['augmentation'] is",),
        ),
        (
            "no_augmentation",
            lambda r: build_recipe_model(r, augmentation=[]),
            ("yours starts with none",),
        ),
        (
            "dense_activation_before_batch_norm",
            lambda r: build_recipe_model(r, head_activation="relu"),
            ("Dense(128) has activation='relu'",),
        ),
        (
            "no_batch_norm_in_the_head",
            lambda r: build_recipe_model(r, head_bn=False),
            ("Dense(128) should be followed by BatchNormalization",),
        ),
        (
            "no_softmax",
            lambda r: build_recipe_model(r, softmax=None),
            ("class probabilities",),
        ),
        (
            "dropout_before_pooling",
            lambda r: build_recipe_model(r, dropout_first=True),
            ("Dropout comes before MaxPooling2D",),
        ),
        (
            "spatial_dropout",
            lambda r: build_recipe_model(
                r, dropout_layer=keras.layers.SpatialDropout2D
            ),
            ("SpatialDropout2D",),
        ),
        (
            "leaky_relu",
            lambda r: build_recipe_model(r, relu=keras.layers.LeakyReLU),
            ("does not use LeakyReLU",),
        ),
        (
            "a_list_of_layers",
            lambda r: build_recipe_model(r).layers,
            ("return a Keras model",),
        ),
        ("recipe_changed", recipe_changed, ("changed the recipe",)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_1_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.recipe_model, answer, capsys, *hints)


def test_exercise_1_model_without_an_input_gets_a_verdict(capsys):
    def no_input(recipe):
        return keras.Sequential(build_recipe_model(recipe).layers)

    passed, line = assert_verdict_line(lab.recipe_model, no_input, capsys)
    assert passed, line


# --- Exercise 2: the ablation's configurations ---


def ablation_configs(recipe):
    return {
        "full recipe": dict(recipe),
        "without augmentation": {**recipe, "augmentation": []},
        "without normalization": {**recipe, "normalization": None},
        "without dropout": {**recipe, "dropout": 0.0},
        "without weight decay": {**recipe, "l2": 0.0},
    }


def with_deep_copies(recipe):
    variants = {"full recipe": copy.deepcopy(recipe)}
    for technique, key, value in (
        ("augmentation", "augmentation", ()),
        ("normalization", "normalization", None),
        ("dropout", "dropout", 0),
        ("weight decay", "l2", 0),
    ):
        variant = copy.deepcopy(recipe)
        variant[key] = value
        variants[f"without {technique}"] = variant
    return variants


@pytest.mark.parametrize(
    "answer",
    [
        ablation_configs,
        with_deep_copies,
        lambda recipe: {**ablation_configs(recipe), "full recipe": recipe},
    ],
    ids=["dict_unpacking", "deep_copies_empty_tuple_int_zero", "recipe_itself"],
)
def test_exercise_2_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.ablation_configs, answer, capsys, "Exercise 2")


def in_place(recipe):
    variants = {"full recipe": dict(recipe)}
    for name, key, value in (
        ("augmentation", "augmentation", []),
        ("normalization", "normalization", None),
        ("dropout", "dropout", 0.0),
        ("weight decay", "l2", 0.0),
    ):
        recipe[key] = value  # changes the recipe itself
        variants[f"without {name}"] = dict(recipe)
    return variants


def list_cleared(recipe):
    variants = ablation_configs(recipe)
    variants["without augmentation"] = dict(recipe)
    variants["without augmentation"]["augmentation"].clear()  # the recipe's list
    return variants


def cumulative(recipe):
    variants = ablation_configs(recipe)
    variants["without dropout"] = {**variants["without normalization"], "dropout": 0.0}
    return variants


def replaced(name, **changes):
    return lambda recipe: {
        **ablation_configs(recipe),
        name: {**recipe, **changes},
    }


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        ("changes_the_recipe", in_place, ("changed the recipe",)),
        ("clears_the_recipes_list", list_cleared, ("changed the recipe",)),
        ("removes_two_techniques", cumulative, ("only in", "normalization")),
        (
            "the_labs_recipe_written_in",
            lambda recipe: ablation_configs(lab.RECIPE),
            ("lab's own",),
        ),
        ("keeps_the_technique", replaced("without dropout"), ("still uses dropout",)),
        (
            "l2_none",
            replaced("without weight decay", l2=None),
            ("l2=None", "l2=0.0"),
        ),
        (
            "augmentation_none",
            replaced("without augmentation", augmentation=None),
            ("augmentation=None",),
        ),
        (
            "normalization_text",
            replaced("without normalization", normalization="none"),
            ("normalization='none'",),
        ),
        (
            "a_key_dropped",
            lambda recipe: {
                **ablation_configs(recipe),
                "without dropout": {"dropout": 0.0},
            },
            ("these differ too",),
        ),
        (
            "missing_a_variant",
            lambda recipe: {
                k: v for k, v in ablation_configs(recipe).items() if "weight" not in k
            },
            ("missing ['without weight decay']",),
        ),
        (
            "an_extra_variant",
            lambda recipe: {**ablation_configs(recipe), "baseline": {}},
            ("unexpected ['baseline']",),
        ),
        (
            "a_list",
            lambda recipe: list(ablation_configs(recipe).values()),
            ("return a dict",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.ablation_configs, answer, capsys, *hints)


def test_exercise_2_tries_recipes_with_other_values_and_keys(monkeypatch):
    """Over several runs of the check (its generator seeded, so that the test
    does not depend on luck): after the lab's own recipe come recipes whose L2
    factor is never the lab's, and some with other keys or dropout placements."""
    seeded = np.random.default_rng
    recipes = []

    def spy(recipe):
        recipes.append(copy.deepcopy(recipe))
        return ablation_configs(recipe)

    for seed in range(4):
        monkeypatch.setattr(
            np.random, "default_rng", lambda *_, seed=seed: seeded(seed)
        )
        count = len(recipes)
        assert lab.ablation_configs(spy)
        drawn = recipes[count:]
        assert drawn[0] == lab.RECIPE and len(drawn) == 3
        assert all(r["l2"] != lab.RECIPE["l2"] for r in drawn[1:])
    drawn = [r for r in recipes if r != lab.RECIPE]
    assert len({r["l2"] for r in drawn}) > 1
    assert any(set(r) != set(lab.RECIPE) for r in drawn)
    assert any(r["dropout_placement"] != "conv" for r in drawn)


# --- Exercise 3: read the ablation over seeds ---


def most_important_technique(ablation):
    full = ablation["full recipe"]
    costs = {}
    for name, runs in ablation.items():
        if name == "full recipe":
            continue
        comparison = evaluation.compare(runs, full, "val_accuracy")
        if comparison.verdict == "helped":
            costs[name.removeprefix("without ")] = comparison.difference
    return max(costs, key=costs.get) if costs else "none"


def by_lower_bound(ablation):
    best, cost = "none", 0.0
    for name, runs in ablation.items():
        if name != "full recipe":
            comparison = evaluation.compare(
                ablation["full recipe"], runs, "val_accuracy"
            )
            if (
                comparison.n >= 2
                and comparison.high < 0
                and -comparison.difference > cost
            ):
                best, cost = name.removeprefix("without "), -comparison.difference
    return best


@pytest.mark.parametrize(
    "answer",
    [most_important_technique, by_lower_bound],
    ids=["verdict", "interval_the_other_way_round"],
)
def test_exercise_3_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.most_important_technique, answer, capsys, "Exercise 3")


def test_exercise_3_ablations_tell_every_reading_apart():
    for seed in range(10):
        sets = lab._ablation_sets(np.random.default_rng(seed))
        readings = {
            name: tuple(read(s) for s in sets)
            for name, read in lab._reading_strategies().items()
        }
        assert len(set(readings.values())) == len(readings), readings
        assert lab.NONE in readings["right"]
        assert all(len(set(reading)) > 1 for reading in readings.values())


def test_exercise_3_names_each_typical_reading(capsys):
    strategies = lab._reading_strategies()
    assert set(lab.READING_HINTS) == set(strategies) - {"right"}
    for name, hint in lab.READING_HINTS.items():
        assert_rejected(
            lab.most_important_technique, strategies[name], capsys, hint[:40]
        )


def mutating(ablation):
    ablation.pop("without dropout")
    return "none"


def measurable_drops(ablation):
    drops = {}
    for technique in lab.TECHNIQUES:
        comparison = evaluation.compare(
            ablation[f"without {technique}"], ablation["full recipe"], "val_accuracy"
        )
        if comparison.verdict == "helped":
            drops[technique] = comparison
    return drops


def largest_low(ablation):
    drops = measurable_drops(ablation)
    return max(drops, key=lambda t: drops[t].low) if drops else "none"


def first_helped(ablation):
    return next(iter(measurable_drops(ablation)), "none")


def last_helped(ablation):
    return ([*measurable_drops(ablation)] or ["none"])[-1]


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (largest_low, "`.low`"),
        (first_helped, "the first technique"),
        (last_helped, "the last technique"),
    ],
    ids=["lower_end", "first", "last"],
)
def test_exercise_3_fixed_ablation_names_each_ranking_mistake(answer, hint):
    with pytest.raises(lab.Mistake, match=re.escape(hint)):
        lab._check_fixed_ablation(lambda ablation, where: answer(ablation))
    lab._check_fixed_ablation(lambda a, where: most_important_technique(a))


def test_exercise_3_fixed_ablation_tells_the_rankings_apart():
    ablation = lab._fixed_ablation()
    drops = measurable_drops(ablation)
    right = lab.reference_reading(ablation)
    assert right not in (lab.TECHNIQUES[0], lab.TECHNIQUES[-1])
    assert len({right, largest_low(ablation), first_helped(ablation)}) == 3
    assert len({right, largest_low(ablation), last_helped(ablation)}) == 3
    widths = {t: c.high - c.low for t, c in drops.items()}
    assert max(widths, key=widths.get) == right


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        ("always_the_same", lambda a: "normalization", ("for every ablation",)),
        (
            "python_none",
            lambda a: None if most_important_technique(a) == "none" else "dropout",
            ("returned None",),
        ),
        ("a_number", lambda a: 0.018, ("technique's name as text",)),
        ("unknown_name", lambda a: "batch norm", ("return one of",)),
        ("records_changed", mutating, ("changed the records",)),
        (
            "variant_name",
            lambda a: "without " + most_important_technique(a),
            ("technique's name", "not the variant's name"),
        ),
        (
            "nothing_for_none",
            lambda a: "nothing"
            if most_important_technique(a) == "none"
            else most_important_technique(a),
            ("exactly 'none'",),
        ),
        ("ranked_by_lower_end", largest_low, ("`.low`",)),
        # on some drawn ablations these match a drawn reading's hint first
        ("first_measurable_drop", first_helped, ()),
        ("last_measurable_drop", last_helped, ()),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_rejects_other_wrong_answers(mistake, answer, hints, capsys):
    assert_rejected(lab.most_important_technique, answer, capsys, *hints)


def group(name, values, seeds=(0, 1, 2)):
    return RunGroup(
        name,
        [
            Run(
                record={
                    "name": name,
                    "seed": seed,
                    "val_accuracy": value,
                    "test_accuracy": value - 0.002,
                    "train_accuracy": value + 0.03,
                    "generalization_gap": 0.032,
                },
                model=None,
            )
            for seed, value in zip(seeds, values, strict=True)
        ],
    )


def own_ablation(costs):
    """RunGroups: the full recipe, and each variant lower by ``costs[t]``."""
    full = [0.85, 0.87, 0.86]
    ablation = {"full recipe": group("capstone full recipe", full)}
    for technique, cost in costs.items():
        ablation[f"without {technique}"] = group(
            f"capstone without {technique}",
            [v - cost + 0.0004 * i for i, v in enumerate(full)],
        )
    return ablation


def test_exercise_3_every_removal_raising_accuracy_reads_as_none(capsys):
    """The lecture's run where every removal raised validation accuracy: the
    reading is "none", not the technique whose removal gained least."""
    ablation = own_ablation(
        {
            "augmentation": -0.04,
            "normalization": -0.01,
            "dropout": -0.02,
            "weight decay": -0.03,
        }
    )
    records = {name: runs.records for name, runs in ablation.items()}
    assert lab.reference_reading(records) == lab.NONE
    printed = assert_passes(
        lab.most_important_technique,
        most_important_technique,
        capsys,
        "Exercise 3",
        ablation,
    )
    assert "On your own ablation: 'none'" in printed


def test_exercise_3_reads_the_learners_own_ablation(capsys):
    ablation = own_ablation(
        {
            "augmentation": 0.01,
            "normalization": 0.03,
            "dropout": -0.01,
            "weight decay": 0.0,
        }
    )
    printed = assert_passes(
        lab.most_important_technique,
        most_important_technique,
        capsys,
        "Exercise 3",
        ablation,
    )
    assert "'normalization'" in printed


def test_exercise_3_rejects_a_reading_that_disagrees_with_the_own_ablation(capsys):
    ablation = own_ablation(
        {
            "augmentation": 0.01,
            "normalization": 0.03,
            "dropout": -0.01,
            "weight decay": 0.0,
        }
    )

    def right_on_drawn_ablations_only(records):
        if len(records["full recipe"]) == 3:
            return "dropout"
        return most_important_technique(records)

    assert_rejected(
        lab.most_important_technique,
        right_on_drawn_ablations_only,
        capsys,
        "on your own ablation",
        args=(ablation,),
    )


# --- every check: one verdict line whatever the answer ---


ODD_ANSWERS = [
    lambda *args: (1, 2),
    lambda *args: {"full recipe": 1},
    lambda *args: np.zeros(3),
    lambda *args: float("nan"),
    lambda *args: object(),
    lambda *args: keras.Sequential([keras.layers.Dense(10)]),
]


@pytest.mark.parametrize(
    "check",
    [lab.recipe_model, lab.ablation_configs, lab.most_important_technique],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("answer", ODD_ANSWERS, ids=range(len(ODD_ANSWERS)))
def test_every_check_gives_one_verdict_line_for_odd_answers(check, answer, capsys):
    passed, _ = assert_verdict_line(check, answer, capsys)
    assert not passed
