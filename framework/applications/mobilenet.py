"""MobileNet (V1), as ``keras.applications.mobilenet``.

Reference: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications" (2017). Inputs are ``preprocess_input``'s "tf" scaling (to [-1, 1]).
"""
from framework.applications import building, imagenet_utils
from framework.applications.weights import published, register
from framework.layers import (Activation, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout,
                              GlobalAveragePooling2D, ReLU, Reshape, ZeroPadding2D)

ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
SIZES = (128, 160, 192, 224)


def weight_file(alpha, rows, include_top):
    suffix = "tf.h5" if include_top else "tf_no_top.h5"
    return published("mobilenet/", f"mobilenet_{ALPHA_TEXT[alpha]}_{rows}_{suffix}")


register(*(weight_file(a, r, top) for a in ALPHA_TEXT for r in SIZES for top in (True, False)))


def conv_block(x, filters, alpha, strides=(1, 1)):
    x = Conv2D(int(filters * alpha), (3, 3), padding="same", use_bias=False, strides=strides, name="conv1")(x)
    return ReLU(6.0, name="conv1_relu")(BatchNormalization(axis=-1, name="conv1_bn")(x))


def depthwise_conv_block(x, filters, alpha, depth_multiplier, strides=(1, 1), block_id=1):
    if strides != (1, 1):
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if strides == (1, 1) else "valid", depth_multiplier=depth_multiplier,
                        strides=strides, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x))
    x = Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x))


#: (pointwise filters, strides) of blocks 1..13
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNet V1 (Keras's ``keras.applications.MobileNet``).

    Args:
        input_shape: (rows, cols, 3), at least 32x32; ImageNet weights exist for 128, 160, 192 and 224.
        alpha: width multiplier of every layer's filters (0.25, 0.5, 0.75 or 1.0 with ImageNet weights).
        depth_multiplier: depthwise channel multiplier (1 with ImageNet weights).
        dropout: the dropout rate before the classifier.
        include_top, weights, input_tensor, pooling, classes, classifier_activation: as ``ResNet50``.
        name: the model's name (default ``mobilenet_<alpha>_<rows>``, as Keras names it).
    """
    where = name or "MobileNet"
    building.check_arguments(where, weights, include_top, classes, pooling)
    rows = input_shape[0] if input_shape is not None else None
    default_size = rows if input_shape is not None and rows == input_shape[1] and rows in SIZES else 224
    shape = building.input_shape_of(input_tensor, input_shape, default_size, 32, include_top, weights, where)
    rows = shape[0]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(f"{where}: ImageNet weights exist only for depth_multiplier=1; received "
                             f"{depth_multiplier}")
        if alpha not in ALPHA_TEXT:
            raise ValueError(f"{where}: ImageNet weights exist only for alpha in {sorted(ALPHA_TEXT)}; "
                             f"received {alpha}")
        if rows != shape[1] or rows not in SIZES:
            rows = 224
    image, inputs = building.image_input(input_tensor, shape, where)
    x = conv_block(image, 32, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(BLOCKS, start=1):
        x = depthwise_conv_block(x, filters, alpha, depth_multiplier, (stride, stride), block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling)
    name = name or f"mobilenet_{alpha:0.2f}_{rows}"
    record = weight_file(alpha, rows, include_top) if weights == "imagenet" else None
    return building.finish(inputs, x, name, weights, record, where)


def preprocess_input(x, data_format=None):
    """[0, 255] images to [-1, 1] ("tf" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
