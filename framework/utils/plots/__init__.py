"""Pictures of models and runs, drawn with matplotlib (the optional extra ``plots``).

``plot_model`` draws a model's graph (model_graph.py, laid out by layout.py), ``plot_learning_curves``
the ``history.csv`` of run folders (learning_curves.py), ``confusion_matrix`` and
``plot_confusion_matrix`` a classifier's errors (confusion.py). matplotlib is imported only when a
picture is drawn (drawing.py), so the rest of the package works without it.
"""
from framework.utils.plots.confusion import (check_confusion_request, classifier_problem, confusion_matrix,
                                             model_confusion_matrix, plot_confusion_matrix)
from framework.utils.plots.drawing import EXTRA_HINT, MissingExtraError, PlotInputError, figure_class, output_format
from framework.utils.plots.learning_curves import plot_learning_curves, read_history
from framework.utils.plots.model_graph import plot_model

__all__ = ["EXTRA_HINT", "MissingExtraError", "PlotInputError", "check_confusion_request", "classifier_problem",
           "confusion_matrix", "figure_class", "model_confusion_matrix", "output_format", "plot_confusion_matrix",
           "plot_learning_curves", "plot_model", "read_history"]
