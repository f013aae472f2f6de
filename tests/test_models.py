import keras
import numpy as np
import pytest

from utils import models


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def test_baseline_is_two_narrow_conv_blocks_and_a_dense_head_of_207k_parameters():
    model = models.build_cnn()
    assert layer_types(model).count("Conv2D") == 2
    assert layer_types(model).count("Dense") == 2
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [
        16,
        32,
    ]
    # conv 16*9+16, conv 32*16*9+32, dense 7*7*32*128+128, classifier 128*10+10
    assert model.count_params() == 160 + 4_640 + 200_832 + 1_290
    assert model.output_shape == (None, 10)


def test_baseline_has_every_technique_switched_off():
    types = layer_types(models.build_cnn())
    for technique in (
        "Dropout",
        "SpatialDropout2D",
        "BatchNormalization",
        "RandomFlip",
    ):
        assert technique not in types
    assert models.build_cnn().losses == []


@pytest.mark.parametrize(
    ("placement", "expected"),
    [("head", 1), ("conv", 2), ("both", 3)],
)
def test_dropout_placement_puts_dropout_where_it_says(placement, expected):
    model = models.build_cnn(dropout=0.3, dropout_placement=placement)
    assert layer_types(model).count("Dropout") == expected


def test_spatial_placement_uses_spatial_dropout_after_each_conv_block():
    model = models.build_cnn(dropout=0.2, dropout_placement="spatial")
    assert layer_types(model).count("SpatialDropout2D") == 2


def test_l2_adds_one_penalty_per_kernel():
    model = models.build_cnn(l2=1e-4)
    model(np.zeros((1, 28, 28, 1), dtype="float32"))
    assert len(model.losses) == 4


def test_batch_normalization_sits_between_each_linear_layer_and_its_relu():
    types = layer_types(models.build_cnn(normalization="batch"))
    assert types.count("BatchNormalization") == 3
    for index, name in enumerate(types):
        if name == "BatchNormalization":
            assert (
                types[index - 1] in ("Conv2D", "Dense") and types[index + 1] == "ReLU"
            )


def test_augmentation_is_active_in_training_and_the_identity_at_inference():
    model = keras.Sequential(models.augmentation_layers(["flip", "translate"], seed=0))
    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    assert np.allclose(model(images, training=False), images)
    assert not np.allclose(model(images, training=True), images)


def test_width_scales_the_number_of_filters():
    narrow = models.build_cnn(width=0.5)
    assert narrow.get_layer("conv1").filters == 8
    assert narrow.get_layer("dense").units == 64


def test_other_input_shapes_and_classes_build():
    model = models.build_cnn(input_shape=(32, 32, 3), num_classes=7)
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dropout": 1.0}, "dropout must be in"),
        ({"dropout_placement": "input"}, "dropout_placement"),
        ({"normalization": "instance"}, "normalization"),
        ({"l2": -1.0}, "l2 must be"),
        ({"augmentation": ["blur"]}, "Unknown augmentation"),
    ],
)
def test_bad_knobs_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_cnn(**kwargs)


def test_tf_keras_twin_has_the_same_layers_and_predicts_identically():
    import tf_keras

    model = models.build_cnn(dropout=0.3, normalization="batch")
    twin = models.build_cnn(dropout=0.3, normalization="batch", keras_module=tf_keras)
    assert model.count_params() == twin.count_params()
    twin.set_weights(model.get_weights())
    images = np.random.default_rng(1).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        twin(images, training=False).numpy(),
        keras.ops.convert_to_numpy(model(images, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_layer_norm_normalizes_each_example_over_height_width_and_channels():
    model = models.build_cnn(normalization="layer")
    layer_norm = model.get_layer("ln1")
    assert type(layer_norm).__name__ == "GroupNormalization"
    assert layer_norm.groups == 1
    features = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 5, 4, 16))
    out = np.asarray(layer_norm(features.astype("float32")))
    # gamma 1 and beta 0 at initialization: zero mean, unit variance per example
    assert np.allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    assert np.allclose(out.var(axis=(1, 2, 3)), 1.0, atol=1e-2)
    # ... but not per pixel over its channels only (Keras' default LayerNormalization)
    assert not np.allclose(out.mean(axis=3), 0.0, atol=1e-2)


def test_the_final_model_is_conv_bn_relu_stages_with_a_dense_head():
    model = models.build_final_cnn(augmentation=())
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["Conv2D", "BatchNormalization", "ReLU"]
    assert kinds.count("Conv2D") == 4 and kinds.count("MaxPooling2D") == 2
    assert kinds[-6:] == [
        "Flatten",
        "Dense",
        "BatchNormalization",
        "ReLU",
        "Dropout",
        "Dense",
    ]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert not any(conv.use_bias for conv in convs)  # batch norm's shift replaces it
    assert model.count_params() == 1_739_690
    assert model.output_shape == (None, 10)


def test_the_final_model_can_take_an_average_pooling_head():
    model = models.build_final_cnn(augmentation=(), head_units=0, dropout=0.2)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[-3:] == ["GlobalAveragePooling2D", "Dropout", "Dense"]
    assert model.count_params() == 131_754


def test_the_final_model_refuses_bad_settings_with_a_clear_message():
    with pytest.raises(ValueError, match="dropout"):
        models.build_final_cnn(dropout=1.0)
    with pytest.raises(ValueError, match="stages"):
        models.build_final_cnn(stages=())


def test_the_peer_recipe_is_keras_io_simple_mnist_convnet():
    model = models.build_keras_mnist_convnet()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert model.count_params() == 34_826
    assert models.KERAS_MNIST_TRAINING["epochs"] == 15
    assert models.KERAS_MNIST_TRAINING["batch_size"] == 128
