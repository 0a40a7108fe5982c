"""ResNet50V2, ResNet101V2 and ResNet152V2 (pre-activation blocks), as ``keras.applications.resnet_v2``.

Reference: He et al., "Identity Mappings in Deep Residual Networks" (ECCV 2016). Inputs are
``preprocess_input``'s "tf" scaling (to [-1, 1]).
"""
from framework.applications import imagenet_utils
from framework.applications.resnet import ResNet, bn
from framework.layers import Activation, Add, Conv2D, MaxPooling2D, ZeroPadding2D


def block_v2(x, filters, stride=1, conv_shortcut=False, name=None):
    inputs = x
    preact = Activation("relu", name=f"{name}_preact_relu")(bn(f"{name}_preact_bn")(x))
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = Activation("relu", name=f"{name}_1_relu")(bn(f"{name}_1_bn")(x))
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = Activation("relu", name=f"{name}_2_relu")(bn(f"{name}_2_bn")(x))
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(inputs) if stride > 1 else inputs
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def stack_v2(x, filters, blocks, stride1=2, name=None):
    x = block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = block_v2(x, filters, name=f"{name}_block{i}")
    return block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _v2(depths):
    def stack_fn(x):
        x = stack_v2(x, 64, depths[0], name="conv2")
        x = stack_v2(x, 128, depths[1], name="conv3")
        x = stack_v2(x, 256, depths[2], name="conv4")
        return stack_v2(x, 512, depths[3], stride1=1, name="conv5")
    return stack_fn


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet50V2; arguments as ``resnet.ResNet50``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50``.
    """
    return ResNet(_v2((3, 4, 6, 3)), True, True, "resnet50v2", name, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet101v2"):
    """ResNet101V2; arguments as ``resnet.ResNet50``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50``.
    """
    return ResNet(_v2((3, 4, 23, 3)), True, True, "resnet101v2", name, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet152v2"):
    """ResNet152V2; arguments as ``resnet.ResNet50``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50``.
    """
    return ResNet(_v2((3, 8, 36, 3)), True, True, "resnet152v2", name, include_top, weights, input_tensor,
                  input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """[0, 255] images to [-1, 1] ("tf" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
