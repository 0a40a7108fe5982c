"""MobileNetV3Small and MobileNetV3Large, as ``keras.applications.mobilenet_v3``.

Reference: Howard et al., "Searching for MobileNetV3" (ICCV 2019). The models include their
preprocessing (a ``Rescaling`` to [-1, 1], unless ``include_preprocessing=False``):
``preprocess_input`` passes inputs through.
"""
from framework.applications import building, imagenet_utils
from framework.applications.imagenet_utils import correct_pad, make_divisible
from framework.applications.weights import published, register
from framework.layers import (Activation, Add, BatchNormalization, Conv2D, DepthwiseConv2D, Dropout, Flatten,
                              GlobalAveragePooling2D, Multiply, ReLU, Rescaling, ZeroPadding2D)

#: model name -> (md5 with top, md5 without)
HASHES = {"large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
          "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
          "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c",
                                               "ec5221f64a2f6d1ef965a614bdae7973"),
          "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
          "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
          "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37",
                                               "cde8136e733e811080d9fcd8a252f7e4")}


def weight_file(model_name, include_top):
    suffix = ".h5" if include_top else "_no_top_v2.h5"
    return published("mobilenet_v3/", f"weights_mobilenet_v3_{model_name}{suffix}",
                     HASHES[model_name][0 if include_top else 1])


register(*(weight_file(n, top) for n in HASHES for top in (True, False)))


def relu(x):
    return ReLU()(x)


def hard_sigmoid(x):
    return ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def hard_swish(x):
    return Activation("hard_swish")(x)


def bn(name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def se_block(inputs, filters, se_ratio, prefix):
    x = GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)
    x = Conv2D(make_divisible(filters * se_ratio), kernel_size=1, padding="same",
               name=f"{prefix}squeeze_excite_conv")(x)
    x = ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = Conv2D(filters, kernel_size=1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    return Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, hard_sigmoid(x)])


def inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation, block_id):
    shortcut, infilters, prefix = x, x.shape[-1], "expanded_conv_"
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = Conv2D(make_divisible(infilters * expansion), kernel_size=1, padding="same", use_bias=False,
                   name=f"{prefix}expand")(x)
        x = activation(bn(f"{prefix}expand_bn")(x))
    if stride == 2:
        x = ZeroPadding2D(padding=correct_pad(x.shape, kernel_size), name=f"{prefix}depthwise_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False,
                        name=f"{prefix}depthwise")(x)
    x = activation(bn(f"{prefix}depthwise_bn")(x))
    if se_ratio:
        x = se_block(x, make_divisible(infilters * expansion), se_ratio, prefix)
    x = Conv2D(filters, kernel_size=1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = bn(f"{prefix}project_bn")(x)
    if stride == 1 and infilters == filters:
        x = Add(name=f"{prefix}add")([shortcut, x])
    return x


#: (expansion, filters, kernel ("k": the model's), stride, squeeze-excite, activation ("a": the model's))
SMALL = ((1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"), (88 / 24, 24, 3, 1, False, "relu"),
         (4, 40, "k", 2, True, "a"), (6, 40, "k", 1, True, "a"), (6, 40, "k", 1, True, "a"),
         (3, 48, "k", 1, True, "a"), (3, 48, "k", 1, True, "a"), (6, 96, "k", 2, True, "a"),
         (6, 96, "k", 1, True, "a"), (6, 96, "k", 1, True, "a"))
LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
         (3, 40, "k", 2, True, "relu"), (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
         (6, 80, 3, 2, False, "a"), (2.5, 80, 3, 1, False, "a"), (2.3, 80, 3, 1, False, "a"),
         (2.3, 80, 3, 1, False, "a"), (6, 112, 3, 1, True, "a"), (6, 112, 3, 1, True, "a"),
         (6, 160, "k", 2, True, "a"), (6, 160, "k", 1, True, "a"), (6, 160, "k", 1, True, "a"))


def MobileNetV3(blocks, last_point_ch, model_type, input_shape, alpha, minimalistic, include_top, weights,
                input_tensor, classes, pooling, dropout_rate, classifier_activation, include_preprocessing, name):
    """The MobileNetV3 builder behind ``MobileNetV3Small`` and ``MobileNetV3Large``.

    Args:
        blocks: the inverted residual blocks (``SMALL`` or ``LARGE``).
        last_point_ch: channels of the classifier's hidden 1x1 convolution.
        model_type: ``"small"`` or ``"large"`` (Keras's weight file names). The other arguments are the
            constructors'.
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    if any(d is not None and d < 32 for d in shape[:2]):
        raise ValueError(f"{where}: input size must be at least 32x32; received input_shape={shape}")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise ValueError(f"{where}: ImageNet weights exist for alpha 0.75 or 1.0 (1.0 when minimalistic); "
                             f"received alpha={alpha}")
    image, inputs = building.image_input(input_tensor, shape, where)
    kernel, activation, se_ratio = (3, relu, None) if minimalistic else (5, hard_swish, 0.25)
    x = Rescaling(scale=1.0 / 127.5, offset=-1.0)(image) if include_preprocessing else image
    x = Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False, name="conv")(x)
    x = activation(bn("conv_bn")(x))
    for block_id, (expansion, filters, size, stride, se, act) in enumerate(blocks):
        x = inverted_res_block(x, expansion, make_divisible(filters * alpha), kernel if size == "k" else size, stride,
                               se_ratio if se else None, relu if act == "relu" else activation, block_id)
    last_conv_ch = make_divisible(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = make_divisible(last_point_ch * alpha)
    x = Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False, name="conv_1")(x)
    x = activation(bn("conv_1_bn")(x))
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True, name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate)(x)
        x = Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = Flatten()(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling, "avg_pool", "max_pool")
    record = None
    if weights == "imagenet":
        variant = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
        record = weight_file(variant, include_top)
    return building.finish(inputs, x, name, weights, record, where)


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Small"):
    """MobileNetV3Small (Keras's ``keras.applications.MobileNetV3Small``).

    Args:
        input_shape: (rows, cols, 3), at least 32x32; default (None, None, 3).
        alpha: width multiplier (0.75 or 1.0 with ImageNet weights).
        minimalistic: no squeeze-excite, no hard swish, 3x3 kernels only.
        dropout_rate: the dropout rate before the classifier's last convolution.
        include_preprocessing: a ``Rescaling`` of [0, 255] inputs to [-1, 1] as the first layer.
        include_top, weights, input_tensor, classes, pooling, classifier_activation, name: as ``ResNet50``.
    """
    return MobileNetV3(SMALL, 1024, "small", input_shape, alpha, minimalistic, include_top, weights, input_tensor,
                       classes, pooling, dropout_rate, classifier_activation, include_preprocessing, name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True, weights="imagenet",
                     input_tensor=None, classes=1000, pooling=None, dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Large"):
    """MobileNetV3Large; arguments as ``MobileNetV3Small``.

    Args:
        input_shape, alpha, minimalistic, include_top, weights, input_tensor, classes, pooling, dropout_rate,
        classifier_activation, include_preprocessing, name: as ``MobileNetV3Small``.
    """
    return MobileNetV3(LARGE, 1280, "large", input_shape, alpha, minimalistic, include_top, weights, input_tensor,
                       classes, pooling, dropout_rate, classifier_activation, include_preprocessing, name)


def preprocess_input(x, data_format=None):
    """The identity: MobileNetV3 models rescale [0, 255] inputs themselves."""
    return x


decode_predictions = imagenet_utils.decode_predictions
