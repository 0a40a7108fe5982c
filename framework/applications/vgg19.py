"""VGG19, as ``keras.applications.vgg19`` (the VGG16 builder with 2, 2, 4, 4, 4 convolutions per block)."""
from framework.applications import imagenet_utils
from framework.applications.vgg16 import VGG


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """VGG19; arguments as ``VGG16``.

    Args:
        include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name:
            as ``framework.applications.VGG16``.
    """
    return VGG((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)


def preprocess_input(x, data_format=None):
    """[0, 255] RGB images to BGR with ImageNet's channel means subtracted ("caffe" mode)."""
    return imagenet_utils.preprocess_input(x, data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
