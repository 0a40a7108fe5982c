"""EfficientNetB0 to B3, as ``keras.applications.efficientnet``.

Reference: Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(ICML 2019). The models include their preprocessing (``Rescaling`` to [0, 1], then a
``Normalization`` whose statistics come with the weights): ``preprocess_input`` passes inputs through.
"""
import math

from framework.applications import building, imagenet_utils
from framework.applications.imagenet_utils import correct_pad
from framework.applications.weights import published, register
from framework.initializers import VarianceScaling
from framework.layers import (Activation, BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Dropout,
                              GlobalAveragePooling2D, Normalization, Rescaling, Reshape, ZeroPadding2D, add, multiply)

HASHES = {"b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
          "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
          "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
          "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226")}
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)

#: (kernel, repeats, filters in, filters out, expand ratio, strides) of the seven stages; squeeze-excite 0.25
BLOCKS = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))
SE_RATIO = 0.25


def conv_initializer():
    return VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


def dense_initializer():
    return VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def weight_file(model_name, include_top):
    file_name = model_name + (".h5" if include_top else "_notop.h5")
    return published("", file_name, HASHES[model_name[-2:]][0 if include_top else 1],
                     base="https://storage.googleapis.com/keras-applications/")


register(*(weight_file(f"efficientnet{v}", top) for v in HASHES for top in (True, False)))


def block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides, expand_ratio):
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=conv_initializer(),
                   name=f"{name}expand_conv")(x)
        x = Activation(activation, name=f"{name}expand_activation")(BatchNormalization(axis=3,
                                                                                       name=f"{name}expand_bn")(x))
    if strides == 2:
        x = ZeroPadding2D(padding=correct_pad(x.shape, kernel_size), name=f"{name}dwconv_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=strides, padding="valid" if strides == 2 else "same", use_bias=False,
                        depthwise_initializer=conv_initializer(), name=f"{name}dwconv")(x)
    x = Activation(activation, name=f"{name}activation")(BatchNormalization(axis=3, name=f"{name}bn")(x))
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = Conv2D(max(1, int(filters_in * SE_RATIO)), 1, padding="same", activation=activation,
                kernel_initializer=conv_initializer(), name=f"{name}se_reduce")(se)
    se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=conv_initializer(),
                name=f"{name}se_expand")(se)
    x = multiply([x, se], name=f"{name}se_excite")
    x = Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=conv_initializer(),
               name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = add([x, inputs], name=f"{name}add")
    return x


def EfficientNet(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                 depth_divisor=8, activation="swish", name="efficientnet", include_top=True, weights="imagenet",
                 input_tensor=None, input_shape=None, pooling=None, classes=1000, classifier_activation="softmax",
                 weights_name=None):
    """The EfficientNet builder behind ``EfficientNetB0`` ... ``EfficientNetB3``.

    Args:
        width_coefficient: scale of every layer's channels.
        depth_coefficient: scale of every stage's repeats.
        default_size: the default input size.
        dropout_rate: dropout before the classifier.
        drop_connect_rate: the largest stochastic-depth rate of the residual blocks (rising linearly).
        depth_divisor: channels are rounded to multiples of this.
        activation: the activation of every block.
        name: the model's name.
        weights_name: Keras's weight file name (``efficientnetb0`` ...; default ``name``).
            The other arguments are the constructors'.
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, default_size, 32, include_top, weights, where)
    image, inputs = building.image_input(input_tensor, shape, where)

    def round_filters(filters):
        filters *= width_coefficient
        rounded = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
        return int(rounded + depth_divisor if rounded < 0.9 * filters else rounded)

    def round_repeats(repeats):
        return int(math.ceil(depth_coefficient * repeats))

    x = Rescaling(1.0 / 255.0)(image)
    x = Normalization(axis=3)(x)
    if weights == "imagenet":
        # as Keras: the published weights were trained with this (square-rooted) scaling
        x = Rescaling([1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB])(x)
    x = ZeroPadding2D(padding=correct_pad(x.shape, 3), name="stem_conv_pad")(x)
    x = Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False, kernel_initializer=conv_initializer(),
               name="stem_conv")(x)
    x = Activation(activation, name="stem_activation")(BatchNormalization(axis=3, name="stem_bn")(x))
    total = float(sum(round_repeats(stage[1]) for stage in BLOCKS))
    b = 0
    for i, (kernel, repeats, f_in, f_out, expand, strides) in enumerate(BLOCKS):
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        for j in range(round_repeats(repeats)):
            x = block(x, activation, drop_connect_rate * b / total, f"block{i + 1}{chr(j + 97)}_",
                      f_in if j == 0 else f_out, f_out, kernel, strides if j == 0 else 1, expand)
            b += 1
    x = Conv2D(round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=conv_initializer(),
               name="top_conv")(x)
    x = Activation(activation, name="top_activation")(BatchNormalization(axis=3, name="top_bn")(x))
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, kernel_initializer=dense_initializer(),
                  name="predictions")(x)
    else:
        x = building.pool(x, pooling, "avg_pool", "max_pool")
    record = weight_file(weights_name or name, include_top) if weights == "imagenet" else None
    return building.finish(inputs, x, name, weights, record, where)


def _constructor(variant, width, depth, size, dropout):
    def constructor(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", name=f"efficientnet{variant}"):
        return EfficientNet(width, depth, size, dropout, name=name, include_top=include_top, weights=weights,
                            input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation, weights_name=f"efficientnet{variant}")
    constructor.__name__ = constructor.__qualname__ = f"EfficientNet{variant.upper()}"
    constructor.__doc__ = f"""EfficientNet{variant.upper()} (as Keras's ``EfficientNet{variant.upper()}``):
    width {width}, depth {depth}, {size}x{size} by default, top dropout {dropout}.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.ResNet50`` (input at least 32x32; inputs in [0, 255]).
    """
    return constructor


EfficientNetB0 = _constructor("b0", 1.0, 1.0, 224, 0.2)
EfficientNetB1 = _constructor("b1", 1.0, 1.1, 240, 0.2)
EfficientNetB2 = _constructor("b2", 1.1, 1.2, 260, 0.3)
EfficientNetB3 = _constructor("b3", 1.2, 1.4, 300, 0.3)


def preprocess_input(x, data_format=None):
    """The identity: EfficientNet models rescale and normalize [0, 255] inputs themselves."""
    return x


decode_predictions = imagenet_utils.decode_predictions
