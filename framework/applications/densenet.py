"""DenseNet121, as ``keras.applications.densenet``.

Reference: Huang et al., "Densely Connected Convolutional Networks" (CVPR 2017). Inputs are
``preprocess_input``'s "torch" scaling (to [0, 1], then standardized per channel).
"""
from framework.applications import building, imagenet_utils
from framework.applications.weights import published, register
from framework.layers import (Activation, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense,
                              GlobalAveragePooling2D, MaxPooling2D, ZeroPadding2D)

EPSILON = 1.001e-5
HASHES = {"densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738")}


def weight_file(family, include_top):
    suffix = "" if include_top else "_notop"
    return published("densenet/", f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
                     HASHES[family][0 if include_top else 1])


register(*(weight_file(f, top) for f in HASHES for top in (True, False)))


def bn(name):
    return BatchNormalization(axis=3, epsilon=EPSILON, name=name)


def conv_block(x, growth_rate, name):
    y = Activation("relu", name=f"{name}_0_relu")(bn(f"{name}_0_bn")(x))
    y = Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = Activation("relu", name=f"{name}_1_relu")(bn(f"{name}_1_bn")(y))
    y = Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return Concatenate(axis=3, name=f"{name}_concat")([x, y])


def dense_block(x, blocks, name):
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    x = Activation("relu", name=f"{name}_relu")(bn(f"{name}_bn")(x))
    x = Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def DenseNet(blocks, family, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
             name):
    """A DenseNet with ``blocks`` convolution blocks in its four dense blocks.

    Args:
        blocks: the four dense blocks' lengths ((6, 12, 24, 16) for DenseNet121).
        family: Keras's weight file prefix. The other arguments are the constructors'.
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, 224, 32, include_top, weights, where)
    image, inputs = building.image_input(input_tensor, shape, where)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(image)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = Activation("relu", name="conv1_relu")(bn("conv1_bn")(x))
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        x = dense_block(x, count, name=f"conv{stage}")
        if stage < 5:
            x = transition_block(x, 0.5, name=f"pool{stage}")
    x = Activation("relu", name="relu")(bn("bn")(x))
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling, "avg_pool", "max_pool")
    return building.finish(inputs, x, name, weights, weight_file(family, include_top), where)


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="densenet121"):
    """DenseNet121 (Keras's ``keras.applications.DenseNet121``).

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50`` (input at least 32x32).
    """
    return DenseNet((6, 12, 24, 16), "densenet121", include_top, weights, input_tensor, input_shape, pooling,
                    classes, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """[0, 255] images to [0, 1], standardized with ImageNet's channel means and deviations ("torch" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="torch")


decode_predictions = imagenet_utils.decode_predictions
