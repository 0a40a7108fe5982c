"""VGG16 (and the builder VGG19 shares), as ``keras.applications.vgg16``.

Reference: Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (ICLR 2015). Inputs are ``preprocess_input``'s "caffe" scaling.
"""
from framework.applications import building, imagenet_utils
from framework.applications.weights import published, register
from framework.layers import Conv2D, Dense, Flatten, MaxPooling2D

HASHES = {"vgg16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
          "vgg19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")}


def weight_file(family, include_top):
    suffix = "" if include_top else "_notop"
    return published(f"{family}/", f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
                     HASHES[family][0 if include_top else 1])


register(*(weight_file(f, top) for f in HASHES for top in (True, False)))


def VGG(convs_per_block, family, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name):
    """A VGG network: five blocks of 3x3 convolutions (``convs_per_block``) and max pooling.

    Args:
        convs_per_block: convolutions in each of the five blocks.
        family: ``"vgg16"`` or ``"vgg19"`` (Keras's weight file names). The other arguments are
            the constructors' (see ``VGG16``).
    """
    where = name
    building.check_arguments(where, weights, include_top, classes, pooling)
    shape = building.input_shape_of(input_tensor, input_shape, 224, 32, include_top, weights, where)
    x, inputs = building.image_input(input_tensor, shape, where)
    for block, (filters, count) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), start=1):
        for i in range(1, count + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = Flatten(name="flatten")(x)
        x = Dense(4096, activation="relu", name="fc1")(x)
        x = Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights, where)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = building.pool(x, pooling)
    return building.finish(inputs, x, name, weights, weight_file(family, include_top), where)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """VGG16 (Keras's ``keras.applications.VGG16``).

    Args:
        include_top: the three fully connected layers on top (then the input must be 224x224 with
            ImageNet weights; any fixed size without).
        weights: None, ``"imagenet"`` (Keras's file from the Keras cache) or a Keras weight file's path.
        input_tensor: a symbolic tensor to use as the image input.
        input_shape: (rows, cols, 3), at least 32x32.
        pooling: with ``include_top=False``: None, ``"avg"`` or ``"max"``.
        classes: classes of the classifier.
        classifier_activation: the classifier's activation (None for logits).
        name: the model's name.
    """
    return VGG((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)


def preprocess_input(x, data_format=None):
    """[0, 255] RGB images to BGR with ImageNet's channel means subtracted ("caffe" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
