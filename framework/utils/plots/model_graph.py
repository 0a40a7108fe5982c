"""``plot_model``: a model's graph as a picture (PNG, SVG or PDF), drawn with matplotlib alone.

One box per layer call (a layer called twice, sharing its weights, is drawn once per call), with its
name and class and, when asked, its activation, input and output shapes, dtype and whether it trains;
arrows follow the tensors. Boxes are ranked by graph depth (layout.py), so the branches and merges of
a functional model spread out side by side. Nested models are one box, or with ``expand_nested`` their
own layers inside a dashed frame named after the model.
"""
import os
import sys
from pathlib import Path

from framework.utils.plots.drawing import PlotInputError, figure_class, output_format, save
from framework.utils.plots.layout import layered_layout

FONT_SIZE = 9.0                          # points
CHAR_WIDTH = 0.602 * FONT_SIZE / 72      # inches: DejaVu Sans Mono's advance is 0.602 em
LINE_HEIGHT = 1.4 * FONT_SIZE / 72       # inches
PAD = 0.1                                # inches between a box's border and its text
MARGIN = 0.25                            # inches around the drawing
FRAME_MARGIN = 0.12                      # inches between a nested model's frame and its boxes
FILLS = {"input": "#d8f0d8", "layer": "#dbe8f8", "frozen": "#e4e4e4", "op": "#fbf1d0", "model": "#eadcf4"}
RANKDIRS = ("TB", "LR")


class Box:
    """One drawn node.

    Args:
        lines: its text, the title first.
        kind: 'input', 'layer', 'frozen' (not trainable), 'op' or 'model' (its fill colour).
        scope: the names of the expanded models it sits in, outermost first.
    """

    def __init__(self, lines, kind, scope):
        self.lines, self.kind, self.scope = lines, kind, scope

    def size(self):
        """``(width, height)`` in inches."""
        return (max(len(line) for line in self.lines) * CHAR_WIDTH + 2 * PAD,
                len(self.lines) * LINE_HEIGHT + 2 * PAD)


def _is_model(layer):
    return hasattr(layer, "graph_nodes") and hasattr(layer, "inputs") and hasattr(layer, "outputs")


def _shape_text(shapes):
    texts = ["(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
             for shape in shapes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", None) or str(activation)


class GraphBuilder:
    """Boxes and edges of a model's graph, following the ``plot_model`` options.

    Args:
        options: the ``plot_model`` keyword arguments (show_shapes, show_dtype, show_layer_names,
            expand_nested, show_layer_activations, show_trainable).
    """

    def __init__(self, **options):
        self.options = options
        self.boxes, self.edges = [], []
        self.calls = {}  # id(layer) -> how many of its calls are drawn

    def add_model(self, model, sources=None, scope=()):
        """Add ``model``'s nodes; ``sources`` are the boxes feeding its inputs (None: draw its Input boxes).
        Returns the boxes that produce its outputs."""
        producer = {}
        for i, tensor in enumerate(model.inputs):
            if sources is None:
                producer[(id(tensor.node), tensor.index)] = self._box(tensor.node, scope, is_input=True)
            else:
                producer[(id(tensor.node), tensor.index)] = sources[i]
        for node in model.graph_nodes():
            feeding = [producer[(id(t.node), t.index)] for t in node.inputs if (id(t.node), t.index) in producer]
            layer = node.layer
            if self.options["expand_nested"] and _is_model(layer) and len(layer.inputs) == len(node.inputs) \
                    and len(layer.outputs) == len(node.outputs):
                outputs = self.add_model(layer, feeding, scope + (layer.name,))
                for k, box in enumerate(outputs):
                    producer[(id(node), k)] = box
                continue
            box = self._box(node, scope)
            for source in dict.fromkeys(feeding):
                self.edges.append((source, box))
            for k in range(len(node.outputs)):
                producer[(id(node), k)] = box
        return [producer[(id(t.node), t.index)] for t in model.outputs]

    def _box(self, node, scope, is_input=False):
        layer = node.layer
        options = self.options
        name = getattr(layer, "name", None) or type(layer).__name__
        cls = type(layer).__name__
        self.calls[id(layer)] = call = self.calls.get(id(layer), 0) + 1
        again = f", call {call}" if call > 1 else ""  # a shared layer: one box per call
        lines = [f"{name} ({cls}{again})" if options["show_layer_names"] else f"{cls}{again}"]
        if options["show_layer_activations"] and _activation_name(layer) is not None:
            lines.append(f"activation: {_activation_name(layer)}")
        if options["show_shapes"]:
            if not is_input:
                lines.append(f"input: {_shape_text([t.shape for t in node.inputs])}")
            lines.append(f"output: {_shape_text([t.shape for t in node.outputs])}")
        if options["show_dtype"]:
            lines.append(f"dtype: {node.outputs[0].dtype}")
        trainable = getattr(layer, "trainable", None)
        if options["show_trainable"] and trainable is not None and not is_input:
            lines.append(f"trainable: {'Y' if trainable else 'N'}")
        if is_input:
            kind = "input"
        elif _is_model(layer):
            kind = "model"
        elif trainable is None:
            kind = "op"
        else:
            kind = "layer" if trainable or not getattr(layer, "weights", None) else "frozen"
        self.boxes.append(Box(lines, kind, scope))
        return len(self.boxes) - 1


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, **kwargs):
    """Draw ``model``'s graph into ``to_file`` (``.png``, ``.svg`` or ``.pdf``), as Keras's ``plot_model``
    does, with matplotlib instead of graphviz (``pip install "framework[plots]"``).

    Args:
        model: a built Sequential or functional model (or a subclassed model whose graph has been traced).
        to_file: the file to write; its suffix picks the format.
        show_shapes: show each layer call's input and output shapes.
        show_dtype: show the dtype of each call's output.
        show_layer_names: show layer names beside their classes (Keras 3's default is False; names are
            shown here unless asked not to, since the boxes are hard to tell apart without them).
        rankdir: ``"TB"`` draws from top to bottom, ``"LR"`` from left to right.
        expand_nested: draw the layers of nested models inside a frame instead of one box per model.
        dpi: resolution of a PNG (lowered for very large graphs, so no side passes 16,384 pixels).
        show_layer_activations: show the activation of layers that have one.
        show_trainable: show whether each layer is trainable (frozen layers are grey in any case).
        **kwargs: Keras's ``layer_range`` and any other argument are refused with a TypeError.

    Returns:
        Inside IPython (a Jupyter notebook), an ``IPython.display`` image of the file; otherwise None.
    """
    if kwargs:
        raise TypeError(f"plot_model() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', received {rankdir!r}")
    file_format = output_format(to_file, (".png", ".svg", ".pdf"), "to_file")
    if not _is_model(model):
        raise PlotInputError(f"plot_model draws models; received a {type(model).__name__}")
    built = bool(getattr(model, "inputs", None))
    if built or not hasattr(model, "add"):  # a Sequential without its input shape is only not built yet
        try:
            model.graph_nodes()
        except (ValueError, NotImplementedError) as e:  # not built yet, or a model of models with no graph
            raise PlotInputError(f"plot_model: {e}") from None
    if not built:
        raise PlotInputError(f"Model '{model.name}' has not been built yet: give it an Input (or input_shape= on "
                             "its first layer), or call build(input_shape) or the model on data first")
    builder = GraphBuilder(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                           expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                           show_trainable=show_trainable)
    try:
        builder.add_model(model)
    except (ValueError, NotImplementedError) as e:
        raise PlotInputError(f"plot_model: {e}") from None
    figure = draw_graph(builder.boxes, builder.edges, rankdir)
    _save_with_text(figure, to_file, dpi, file_format)
    return _notebook_image(to_file, file_format)


def draw_graph(boxes, edges, rankdir="TB"):
    """A matplotlib Figure of ``boxes`` joined by ``edges`` (pairs of box indices), one inch per unit."""
    Figure = figure_class()
    from matplotlib.patches import FancyBboxPatch, Rectangle

    sizes = [box.size() for box in boxes]
    vertical = rankdir == "TB"
    layout = layered_layout([s if vertical else (s[1], s[0]) for s in sizes], edges)

    def point(across, along):
        return (across, -along) if vertical else (along, -across)

    centers = [point(*c) for c in layout.centers]
    frames = _frames(boxes, centers, sizes)
    xs = [c[0] - s[0] / 2 for c, s in zip(centers, sizes)] + [c[0] + s[0] / 2 for c, s in zip(centers, sizes)]
    ys = [c[1] - s[1] / 2 for c, s in zip(centers, sizes)] + [c[1] + s[1] / 2 for c, s in zip(centers, sizes)]
    for x0, y0, x1, y1, _ in frames:
        xs += [x0, x1]
        ys += [y0, y1 + LINE_HEIGHT]
    left, right, bottom, top = min(xs) - MARGIN, max(xs) + MARGIN, min(ys) - MARGIN, max(ys) + MARGIN
    figure = Figure(figsize=(right - left, top - bottom))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_axis_off()
    for x0, y0, x1, y1, name in frames:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--", edgecolor="#7a5c99", lw=1))
        ax.text(x0 + 0.05, y1 + 0.03, name, fontsize=FONT_SIZE, family="monospace", color="#7a5c99",
                ha="left", va="bottom", style="italic")
    for path in layout.paths:
        points = [point(*p) for p in path]
        if len(points) > 2:
            ax.plot([p[0] for p in points[:-1]], [p[1] for p in points[:-1]], color="#555555", lw=1)
        ax.annotate("", xy=points[-1], xytext=points[-2],
                    arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1, shrinkA=0, shrinkB=0, mutation_scale=9))
    for box, (x, y), (w, h) in zip(boxes, centers, sizes):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor=FILLS[box.kind], edgecolor="#333333", lw=1))
        first = y + h / 2 - PAD - LINE_HEIGHT / 2
        for k, line in enumerate(box.lines):
            ax.text(x, first - k * LINE_HEIGHT, line, fontsize=FONT_SIZE, family="monospace", ha="center",
                    va="center", weight="bold" if k == 0 else "normal", color="#111111")
    return figure


def _frames(boxes, centers, sizes):
    """``(x0, y0, x1, y1, model name)`` of each expanded model's frame, outer frames around inner ones."""
    scopes = sorted({box.scope[:k] for box in boxes for k in range(1, len(box.scope) + 1)}, key=len, reverse=True)
    frames, extent = [], {}
    for scope in scopes:
        members = [(c[0] - s[0] / 2, c[1] - s[1] / 2, c[0] + s[0] / 2, c[1] + s[1] / 2)
                   for box, c, s in zip(boxes, centers, sizes) if box.scope[:len(scope)] == scope]
        members += [e for inner, e in extent.items() if len(inner) > len(scope) and inner[:len(scope)] == scope]
        x0 = min(m[0] for m in members) - FRAME_MARGIN
        y0 = min(m[1] for m in members) - FRAME_MARGIN
        x1 = max(m[2] for m in members) + FRAME_MARGIN
        y1 = max(m[3] for m in members) + FRAME_MARGIN
        extent[scope] = (x0, y0, x1, y1 + LINE_HEIGHT)  # room for an inner frame's name
        frames.append((x0, y0, x1, y1, scope[-1]))
    return frames


def _save_with_text(figure, to_file, dpi, file_format):
    """Save, keeping SVG text as text (so names can be searched and selected)."""
    import matplotlib
    with matplotlib.rc_context({"svg.fonttype": "none", "font.monospace": ["DejaVu Sans Mono"]}):
        save(figure, to_file, dpi, file_format)


def _notebook_image(to_file, file_format):
    """An ``IPython.display`` image when running inside IPython (a notebook), else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None or file_format == "pdf" or getattr(ipython, "get_ipython", lambda: None)() is None:
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    path = os.fspath(Path(os.fspath(to_file)))
    return display.SVG(filename=path) if file_format == "svg" else display.Image(filename=path)
