"""ResNet50, ResNet101 and ResNet152 (v1: post-activation bottleneck blocks), as ``keras.applications.resnet``.

Reference: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2015). Inputs are
``preprocess_input``'s "caffe" scaling of [0, 255] RGB images.
"""
from framework.applications import building, imagenet_utils
from framework.applications.weights import published, register
from framework.layers import Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, \
    MaxPooling2D, ZeroPadding2D

EPSILON = 1.001e-5
#: weights name -> (md5 with top, md5 without)
HASHES = {"resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
          "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
          "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
          "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
          "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
          "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33")}


def weight_file(weights_name, include_top):
    suffix = "" if include_top else "_notop"
    return published("resnet/", f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
                     HASHES[weights_name][0 if include_top else 1])


register(*(weight_file(n, top) for n in HASHES for top in (True, False)))


def bn(name):
    return BatchNormalization(axis=3, epsilon=EPSILON, name=name)


def block_v1(x, filters, stride=1, conv_shortcut=True, name=None):
    inputs = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = Activation("relu", name=f"{name}_1_relu")(bn(f"{name}_1_bn")(x))
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = Activation("relu", name=f"{name}_2_relu")(bn(f"{name}_2_bn")(x))
    shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(inputs) if conv_shortcut else inputs
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    if conv_shortcut:
        shortcut = bn(f"{name}_0_bn")(shortcut)
    x = bn(f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def stack_v1(x, filters, blocks, stride1=2, name=None):
    x = block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def ResNet(stack_fn, preact, use_bias, weights_name, name, include_top=True, weights="imagenet", input_tensor=None,
           input_shape=None, pooling=None, classes=1000, classifier_activation="softmax"):
    """A ResNet (v1 when ``preact`` is False, v2 otherwise) built around ``stack_fn``.

    Args:
        stack_fn: ``x -> x``, the residual stages.
        preact: pre-activation blocks (ResNetV2).
        use_bias: biases in the stem convolution.
        weights_name: the name of Keras's weight files (``resnet50`` ...).
        name: the model's name. The other arguments are the constructors' (see ``ResNet50``).
    """
    where = f"{name}"
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, 224, 32, include_top, weights, where)
    image, inputs = building.image_input(input_tensor, shape, where)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(image)
    x = Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = Activation("relu", name="conv1_relu")(bn("conv1_bn")(x))
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = Activation("relu", name="post_relu")(bn("post_bn")(x))
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling, "avg_pool", "max_pool")
    return building.finish(inputs, x, name, weights, weight_file(weights_name, include_top), where)


def _v1(depths, weights_name):
    def stack_fn(x):
        x = stack_v1(x, 64, depths[0], stride1=1, name="conv2")
        x = stack_v1(x, 128, depths[1], name="conv3")
        x = stack_v1(x, 256, depths[2], name="conv4")
        return stack_v1(x, 512, depths[3], name="conv5")
    return stack_fn


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    """ResNet50 (Keras's ``keras.applications.ResNet50``).

    Args:
        include_top: the classifier (global average pooling and a ``Dense(classes)``) on top.
        weights: None (random initialization), ``"imagenet"`` (Keras's published file from the Keras
            cache, see docs/applications.md) or the path of a Keras weight file.
        input_tensor: a symbolic tensor to use as the image input.
        input_shape: (rows, cols, 3); at least 32x32; only with ``include_top=False`` when
            ``weights="imagenet"`` (then it must be (224, 224, 3) with the top).
        pooling: with ``include_top=False``: None (4D features), ``"avg"`` or ``"max"`` (global pooling).
        classes: classes of the classifier (1000 with ImageNet weights).
        classifier_activation: the classifier's activation (None for logits).
        name: the model's name.
    """
    return ResNet(_v1((3, 4, 6, 3), "resnet50"), False, True, "resnet50", name, include_top, weights,
                  input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet101(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet101"):
    """ResNet101; arguments as ``ResNet50``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``ResNet50``.
    """
    return ResNet(_v1((3, 4, 23, 3), "resnet101"), False, True, "resnet101", name, include_top, weights,
                  input_tensor, input_shape, pooling, classes, classifier_activation)


def ResNet152(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet152"):
    """ResNet152; arguments as ``ResNet50``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``ResNet50``.
    """
    return ResNet(_v1((3, 8, 36, 3), "resnet152"), False, True, "resnet152", name, include_top, weights,
                  input_tensor, input_shape, pooling, classes, classifier_activation)


def preprocess_input(x, data_format=None):
    """[0, 255] RGB images to BGR with ImageNet's channel means subtracted ("caffe" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
