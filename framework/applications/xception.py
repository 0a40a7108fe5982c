"""Xception, as ``keras.applications.xception``.

Reference: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions" (CVPR 2017).
Inputs are ``preprocess_input``'s "tf" scaling (to [-1, 1]); at least 71x71, 299x299 by default.
"""
from framework.applications import building, imagenet_utils
from framework.applications.weights import published, register
from framework.layers import (Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D,
                              SeparableConv2D, add)

HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def weight_file(include_top):
    suffix = "" if include_top else "_notop"
    return published("xception/", f"xception_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
                     HASHES[0 if include_top else 1])


register(weight_file(True), weight_file(False))


def sepconv_bn(x, filters, name, relu_before=True):
    """[ReLU], SeparableConv2D 3x3, BatchNormalization, with Keras's names."""
    if relu_before:
        x = Activation("relu", name=f"{name}_act")(x)
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def entry_block(x, filters, block, first_relu=True):
    residual = Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    residual = BatchNormalization(axis=-1)(residual)
    x = sepconv_bn(x, filters[0], f"block{block}_sepconv1", relu_before=first_relu)
    x = sepconv_bn(x, filters[1], f"block{block}_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return add([x, residual])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception"):
    """Xception (Keras's ``keras.applications.Xception``).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50`` (input at least 71x71; 299x299 with the top and
            ImageNet weights).
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, 299, 71, include_top, weights, where)
    image, inputs = building.image_input(input_tensor, shape, where)
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(image)
    x = Activation("relu", name="block1_conv1_act")(BatchNormalization(axis=-1, name="block1_conv1_bn")(x))
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = Activation("relu", name="block1_conv2_act")(BatchNormalization(axis=-1, name="block1_conv2_bn")(x))
    # block 2's first separable convolution follows block 1's activation directly; Keras names the
    # activation between its two convolutions block2_sepconv2_act
    x = entry_block(x, (128, 128), 2, first_relu=False)
    x = entry_block(x, (256, 256), 3)
    x = entry_block(x, (728, 728), 4)
    for i in range(5, 13):
        residual = x
        for k in (1, 2, 3):
            x = sepconv_bn(x, 728, f"block{i}_sepconv{k}")
        x = add([x, residual])
    x = entry_block(x, (728, 1024), 13)
    x = SeparableConv2D(1536, (3, 3), padding="same", use_bias=False, name="block14_sepconv1")(x)
    x = Activation("relu", name="block14_sepconv1_act")(BatchNormalization(axis=-1, name="block14_sepconv1_bn")(x))
    x = SeparableConv2D(2048, (3, 3), padding="same", use_bias=False, name="block14_sepconv2")(x)
    x = Activation("relu", name="block14_sepconv2_act")(BatchNormalization(axis=-1, name="block14_sepconv2_bn")(x))
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling)
    return building.finish(inputs, x, name, weights, weight_file(include_top), where)


def preprocess_input(x, data_format=None):
    """[0, 255] images to [-1, 1] ("tf" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
