"""MobileNetV2, as ``keras.applications.mobilenet_v2``.

Reference: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR 2018).
Inputs are ``preprocess_input``'s "tf" scaling (to [-1, 1]).
"""
from framework.applications import building, imagenet_utils
from framework.applications.imagenet_utils import correct_pad, make_divisible
from framework.applications.weights import published, register
from framework.layers import (Add, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, GlobalAveragePooling2D, ReLU,
                              ZeroPadding2D)

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
SIZES = (96, 128, 160, 192, 224)


def weight_file(alpha, rows, include_top):
    suffix = ".h5" if include_top else "_no_top.h5"
    return published("mobilenet_v2/",
                     f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}")


register(*(weight_file(a, r, top) for a in ALPHAS for r in SIZES for top in (True, False)))


def bn(name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                   name=f"{prefix}expand")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(bn(f"{prefix}expand_BN")(x))
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=correct_pad(x.shape, 3), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(bn(f"{prefix}depthwise_BN")(x))
    x = Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
               name=f"{prefix}project")(x)
    x = bn(f"{prefix}project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


#: (filters, stride, expansion) of blocks 0..16
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2 (Keras's ``keras.applications.MobileNetV2``).

    Args:
        input_shape: (rows, cols, 3), at least 32x32; ImageNet weights exist for 96, 128, 160, 192, 224.
        alpha: width multiplier (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 with ImageNet weights).
        include_top, weights, input_tensor, pooling, classes, classifier_activation: as ``ResNet50``.
        name: the model's name (default ``mobilenetv2_<alpha>_<rows>``, as Keras names it).
    """
    where = name or "MobileNetV2"
    building.check_arguments(where, weights, include_top, classes, pooling)
    probe = input_shape if input_shape is not None else (
        tuple(input_tensor.shape[1:]) if input_tensor is not None else None)
    default_size = probe[0] if probe is not None and probe[0] == probe[1] and probe[0] in SIZES else 224
    shape = building.input_shape_of(input_tensor, input_shape, default_size, 32, include_top, weights, where)
    rows = shape[0]
    if weights == "imagenet":
        if alpha not in ALPHAS:
            raise ValueError(f"{where}: ImageNet weights exist only for alpha in {ALPHAS}; received {alpha}")
        if rows != shape[1] or rows not in SIZES:
            rows = 224
    image, inputs = building.image_input(input_tensor, shape, where)
    x = Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(image)
    x = ReLU(6.0, name="Conv1_relu")(bn("bn_Conv1")(x))
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = ReLU(6.0, name="out_relu")(bn("Conv_1_bn")(x))
    if include_top:
        x = GlobalAveragePooling2D()(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling)
    name = name or f"mobilenetv2_{alpha:0.2f}_{rows}"
    record = weight_file(alpha, rows, include_top) if weights == "imagenet" else None
    return building.finish(inputs, x, name, weights, record, where)


def preprocess_input(x, data_format=None):
    """[0, 255] images to [-1, 1] ("tf" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
