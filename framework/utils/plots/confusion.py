"""The confusion matrix of a classifier: counted with NumPy (``confusion_matrix``, no matplotlib),
drawn as a PNG (``plot_confusion_matrix``)."""
import numpy as np

from framework.utils.plots.drawing import PlotInputError, figure_class, output_format, save

CLASSIFIER_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
CLASSIFIER_ACTIVATIONS = ("softmax", "sigmoid")
ANNOTATED_CLASSES = 30  # with more classes the counts are shown by colour only


def _loss_name_and_logits(loss):
    if isinstance(loss, str):
        return loss, False
    return getattr(loss, "name", type(loss).__name__), bool(getattr(loss, "from_logits", False))


def _output_activation(model):
    layer = model.outputs[0].node.layer
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", activation if isinstance(activation, str) else None)
    if name is None and type(layer).__name__ == "Softmax":
        name = "softmax"
    return name


def classifier_problem(model):
    """Why a confusion matrix does not apply to ``model`` (None when it does): it needs one output of
    class probabilities (softmax or sigmoid) or logits under a crossentropy loss, one class per sample."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return f"a confusion matrix needs a model with one output; this one has {len(outputs)}"
    shape = tuple(outputs[0].shape)
    loss = (getattr(model, "compile_arguments", None) or {}).get("loss")
    loss_name, _ = _loss_name_and_logits(loss) if loss is not None and not isinstance(loss, (dict, list)) \
        else (None, False)
    activation = _output_activation(model)
    if loss_name not in CLASSIFIER_LOSSES and activation not in CLASSIFIER_ACTIVATIONS:
        return (f"a confusion matrix is for classifiers (a softmax or sigmoid output, or a crossentropy loss); this "
                f"model's output has activation {activation or 'none'} and its loss is {loss_name or 'not set'}")
    if len(shape) != 2:
        return f"a confusion matrix needs one class per sample: an output of shape (batch, classes), not {shape}"
    if shape[1] is not None and shape[1] > 1 and (activation == "sigmoid" or loss_name == "binary_crossentropy"):
        return (f"this model is a multi-label classifier ({shape[1]} sigmoid outputs, each its own yes/no); a "
                "confusion matrix needs one class per sample")
    return None


def predicted_classes(model, outputs):
    """Class indices from a classifier's outputs: the largest of several, a threshold on one
    (0.5 for probabilities, 0 for logits)."""
    outputs = np.asarray(outputs)
    if outputs.shape[-1] > 1:
        return outputs.argmax(axis=-1)
    loss = (getattr(model, "compile_arguments", None) or {}).get("loss")
    _, from_logits = _loss_name_and_logits(loss) if loss is not None else (None, False)
    return (outputs[:, 0] > (0.0 if from_logits else 0.5)).astype(np.int64)


def true_classes(targets, classes):
    """Class indices from targets: sparse labels ``(N,)`` / ``(N, 1)`` or one-hot rows ``(N, classes)``."""
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] == classes and classes > 1:
        return targets.argmax(axis=-1)
    if targets.ndim == 1 or (targets.ndim == 2 and targets.shape[1] == 1):
        flat = targets.reshape(-1)
        if flat.size and (not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat))):
            raise PlotInputError("the targets are not class labels (whole numbers)")
        return flat.astype(np.int64)
    raise PlotInputError(f"targets of shape {targets.shape} are neither class labels nor one-hot rows of "
                         f"{classes} classes")


def confusion_matrix(labels, predictions, num_classes=None):
    """``matrix[i, j]``: how many samples of true class ``i`` were predicted as class ``j``.

    Args:
        labels: true class indices, integers of shape (N,).
        predictions: predicted class indices, of shape (N,).
        num_classes: the matrix's size; None: one more than the largest index seen.
    """
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions).reshape(-1)
    if labels.shape != predictions.shape:
        raise PlotInputError(f"{labels.size} labels but {predictions.size} predictions")
    for what, values in (("label", labels), ("prediction", predictions)):
        if values.size and values.min() < 0:
            raise PlotInputError(f"class {what}s must be >= 0; found {values.min()}")
    if num_classes is None:
        num_classes = int(max(labels.max(initial=-1), predictions.max(initial=-1))) + 1
    for what, values in (("label", labels), ("prediction", predictions)):
        if values.size and values.max() >= num_classes:
            raise PlotInputError(f"class {what} {values.max()} is outside the {num_classes} classes (0 to "
                                 f"{num_classes - 1})")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix, to_file="confusion_matrix.png", class_names=None, title=None, dpi=100):
    """Write a confusion matrix (true classes down, predicted across, counts in the cells) to a PNG.

    Args:
        matrix: a square array of counts, as ``confusion_matrix`` returns.
        to_file: the PNG to write.
        class_names: labels of the classes; None: their indices.
        title: the figure's title; None: the accuracy (the diagonal's share) and the number of samples.
        dpi: resolution of the PNG.
    """
    matrix = np.asarray(matrix)
    file_format = output_format(to_file, (".png",), "--confusion-matrix")
    classes = matrix.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(classes))]
    total = int(matrix.sum())
    if title is None:
        accuracy = np.trace(matrix) / total if total else float("nan")
        title = f"Confusion matrix: accuracy {accuracy:.4f} ({total:,} samples)"
    Figure = figure_class()
    side = min(max(4.5, 0.45 * classes + 2.5), 40.0)
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(classes), names, rotation=90 if max(map(len, names), default=0) > 3 else 0)
    ax.set_yticks(range(classes), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if classes <= ANNOTATED_CLASSES:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(classes):
            for j in range(classes):
                ax.text(j, i, f"{matrix[i, j]:,}", ha="center", va="center", fontsize="small",
                        color="white" if matrix[i, j] > threshold else "black")
    save(figure, to_file, dpi, file_format)


def check_confusion_request(model, to_file):
    """Before any work: ``to_file`` is a PNG, the model a classifier, matplotlib installed."""
    output_format(to_file, (".png",), "--confusion-matrix")
    problem = classifier_problem(model)
    if problem:
        raise PlotInputError(f"--confusion-matrix: {problem}")
    figure_class()


def model_confusion_matrix(model, x, y, to_file, batch_size=32):
    """Predict ``x`` with a classifier, count its classes against the targets ``y`` (sparse labels or
    one-hot rows) and draw the matrix into ``to_file``. Returns the matrix."""
    outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    classes = outputs.shape[-1]
    labels = true_classes(y, classes)
    if labels.shape[0] != outputs.shape[0]:
        raise PlotInputError(f"{labels.shape[0]} targets for {outputs.shape[0]} samples")
    matrix = confusion_matrix(labels, predicted_classes(model, outputs), max(classes, 2))
    plot_confusion_matrix(matrix, to_file)
    return matrix
