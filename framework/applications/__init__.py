"""The architectures users start from, as ``keras.applications``: constructors with Keras's names,
arguments, layer names and weight layouts, each family's ``preprocess_input`` and
``decode_predictions``, and Keras's published ImageNet weights read from the Keras cache
(docs/applications.md).

One module per family (``resnet``, ``resnet_v2``, ``vgg16``, ``vgg19``, ``mobilenet``,
``mobilenet_v2``, ``mobilenet_v3``, ``densenet``, ``xception``, ``efficientnet``, ``convnext``);
``imagenet_utils`` holds what they share, ``weights`` where the weight files live, ``extra_layers``
the layers only these architectures need (``LayerScale``, ``StochasticDepth``, the ``hard_swish``
activation).
"""
from framework.applications import extra_layers  # noqa: F401  (registers LayerScale, StochasticDepth, hard_swish)
from framework.applications import (convnext, densenet, efficientnet, imagenet_utils, mobilenet, mobilenet_v2,
                                    mobilenet_v3, resnet, resnet_v2, vgg16, vgg19, xception)
from framework.applications.convnext import ConvNeXtTiny
from framework.applications.densenet import DenseNet121
from framework.applications.efficientnet import EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3
from framework.applications.mobilenet import MobileNet
from framework.applications.mobilenet_v2 import MobileNetV2
from framework.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from framework.applications.resnet import ResNet50, ResNet101, ResNet152
from framework.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from framework.applications.vgg16 import VGG16
from framework.applications.vgg19 import VGG19
from framework.applications.weights import download_class_index, download_weights, keras_models_dir
from framework.applications.xception import Xception

resnet50 = resnet  # Keras's other module name for the same functions

__all__ = ["ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small", "ResNet50", "ResNet101", "ResNet152",
           "ResNet50V2", "ResNet101V2", "ResNet152V2", "VGG16", "VGG19", "Xception", "convnext", "densenet",
           "download_class_index", "download_weights", "efficientnet", "imagenet_utils", "keras_models_dir",
           "mobilenet", "mobilenet_v2", "mobilenet_v3", "resnet", "resnet50", "resnet_v2", "vgg16", "vgg19",
           "xception"]
