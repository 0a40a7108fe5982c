"""ConvNeXtTiny, as ``keras.applications.convnext``.

Reference: Liu et al., "A ConvNet for the 2020s" (CVPR 2022). The model includes its
preprocessing (a ``Normalization`` with ImageNet's statistics, unless
``include_preprocessing=False``): ``preprocess_input`` passes inputs through.
"""
import numpy as np

from framework import ops
from framework.applications import building, imagenet_utils
from framework.applications.extra_layers import LayerScale, StochasticDepth
from framework.applications.weights import published, register
from framework.layers import (Activation, Conv2D, Dense, GlobalAveragePooling2D, LayerNormalization, Normalization)
from framework.models import Sequential

HASHES = {"convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                            "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1")}
CONFIGS = {"tiny": {"depths": (3, 3, 9, 3), "projection_dims": (96, 192, 384, 768), "default_size": 224}}


def weight_file(weights_name, include_top):
    return published("convnext/", weights_name + (".h5" if include_top else "_notop.h5"),
                     HASHES[weights_name][0 if include_top else 1])


register(*(weight_file(n, top) for n in HASHES for top in (True, False)))


def convnext_block(x, projection_dim, drop_path_rate, layer_scale_init_value, name):
    inputs = x
    x = Conv2D(projection_dim, kernel_size=7, padding="same", groups=projection_dim,
               name=f"{name}_depthwise_conv")(x)
    x = LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = Activation("gelu", name=f"{name}_gelu")(x)
    x = Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        x = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")(x)
    else:
        x = Activation("linear", name=f"{name}_identity")(x)
    return ops.add(inputs, x)


def ConvNeXt(depths, projection_dims, drop_path_rate=0.0, layer_scale_init_value=1e-6, default_size=224,
             name="convnext", include_preprocessing=True, include_top=True, weights=None, input_tensor=None,
             input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", weights_name=None):
    """The ConvNeXt builder.

    Args:
        depths: blocks in each of the four stages.
        projection_dims: channels of each stage.
        drop_path_rate: the largest stochastic-depth rate (rising linearly over the blocks).
        layer_scale_init_value: initial LayerScale factor (None: no LayerScale).
        default_size: the default input size.
        name: the model's name and the prefix of its layers' names.
        include_preprocessing: a ``Normalization`` with ImageNet's statistics as the first layer.
        weights_name: Keras's weight file name (``convnext_tiny``). The other arguments are the constructors'.
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, default_size, 32, include_top, weights, where)
    x, inputs = building.image_input(input_tensor, shape, where)
    if include_preprocessing and shape[-1] == 3:
        x = Normalization(mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
                          variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
                          name=f"{name}_prestem_normalization")(x)
    stages = [Sequential([Conv2D(projection_dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
                          LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")], name=f"{name}_stem")]
    for i in range(3):
        stages.append(Sequential([LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
                                  Conv2D(projection_dims[i + 1], kernel_size=2, strides=2,
                                         name=f"{name}_downsampling_conv_{i}")],
                                 name=f"{name}_downsampling_block_{i}"))
    rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    done = 0
    for i in range(4):
        x = stages[i](x)
        for j in range(depths[i]):
            x = convnext_block(x, projection_dims[i], rates[done + j], layer_scale_init_value,
                               f"{name}_stage_{i}_block_{j}")
        done += depths[i]
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        x = LayerNormalization(epsilon=1e-6)(building.pool(x, pooling))
    record = weight_file(weights_name, include_top) if weights == "imagenet" and weights_name else None
    return building.finish(inputs, x, name, weights, record, where)


def ConvNeXtTiny(include_top=True, include_preprocessing=True, weights="imagenet", input_tensor=None,
                 input_shape=None, pooling=None, classes=1000, classifier_activation="softmax", name="convnext_tiny"):
    """ConvNeXtTiny (Keras's ``keras.applications.ConvNeXtTiny``).

    Args:
        include_preprocessing: a ``Normalization`` of [0, 255] inputs with ImageNet's statistics first.
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50`` (input at least 32x32).
    """
    config = CONFIGS["tiny"]
    return ConvNeXt(config["depths"], config["projection_dims"], 0.0, 1e-6, config["default_size"], name,
                    include_preprocessing, include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, weights_name="convnext_tiny")


def preprocess_input(x, data_format=None):
    """The identity: ConvNeXt models normalize [0, 255] inputs themselves."""
    return x


decode_predictions = imagenet_utils.decode_predictions
