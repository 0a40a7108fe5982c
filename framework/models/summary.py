"""model.summary(): layers, output shapes and parameters, plus bytes and FLOPs from a plan."""
from framework.graph.shapes import format_shape


def _human(n, unit):
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.4g} {prefix}{unit}"
        n /= 1000
    return f"{n:.4g} P{unit}"


def _traced_layers_as_one(items):
    """One row per layer written with call(): the ops and layers its trace made are summed into it."""
    rows, by_node = [], {}
    for item in items:
        node = item.get("traced_by")
        if node is None:
            rows.append(item)
        elif id(node) in by_node:
            row = by_node[id(node)]
            row["flops"] = None if row["flops"] is None or item["flops"] is None else row["flops"] + item["flops"]
        else:
            by_node[id(node)] = {"layer": node.layer, "node": node, "flops": item["flops"]}
            rows.append(by_node[id(node)])
    return rows


def _table(rows):
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            lines.append("=" * sum(widths))
    return lines, sum(widths)


def _parameter_lines(model):
    trainable = sum(w.value.size for w in model.trainable_weights)
    total = model.count_params()
    return [f"Total params: {total:,} ({_human(total * model.arena_dtype().itemsize, 'B')})",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}"]


def _models_kept_text(model):
    """A model of models (a GAN, a VAE with its own train_step): one row per model or layer it keeps."""
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for layer in model.layers:
        outputs = getattr(layer, "outputs", None) or []
        shapes = [t.shape for t in outputs]
        shape = "?" if not shapes else format_shape(shapes[0]) if len(shapes) == 1 else format_shape(shapes)
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, str(layer.count_params())))
    table, width = _table(rows)
    return "\n".join([f'Model: "{model.name}"', "-" * width] + table + ["=" * width] + _parameter_lines(model)
                     + ["-" * width])


def summary_text(model):
    """The summary table as text. FLOPs are per sample; memory is the predict plan's at batch 1."""
    if not model.outputs and not getattr(model, "_graph_layers", True) and model.layers:
        return _models_kept_text(model)
    if not model.built or not model.outputs:
        raise ValueError(f"Model '{model.name}' has not been built yet, so its layers have no shapes: give it "
                         "an Input (or input_shape= on the first layer), call build(input_shape), or fit it first")
    # a model declared with unknown sizes has plans per batch shape only: no FLOPs or plan memory
    plan = None if getattr(model, "_unknown_sizes", False) else model.plan("predict", 1)
    items = plan.describe if plan is not None else [
        {"layer": entry.layer, "node": entry.node, "flops": None, "traced_by": entry.traced_by}
        for entry in model.flat_graph()[2]]
    rows = [("Layer (type)", "Output Shape", "Param #", "FLOPs")]
    for item in _traced_layers_as_one(items):
        layer, node = item["layer"], item["node"]
        shapes = [t.shape for t in node.outputs]
        shape = format_shape(shapes[0]) if len(shapes) == 1 else format_shape(shapes)
        flops = "?" if item["flops"] is None else _human(item["flops"], "FLOP") if item["flops"] else "0"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, str(layer.count_params()), flops))
    table, width = _table(rows)
    rule = "-" * width
    lines = [f'Model: "{model.name}"', rule] + table + ["=" * width] + _parameter_lines(model)
    if plan is not None:
        flops = sum(item["flops"] for item in plan.describe)
        lines += [f"Forward FLOPs per sample: {_human(flops, 'FLOP')}",
                  f"Predict plan buffers (batch 1, reused by liveness): {_human(plan.nbytes, 'B')}"]
    else:
        lines.append("FLOPs and plan memory depend on the input sizes, which this model leaves unknown")
    train = [p for p in model.plan_cache.plans() if p.mode == "train"]
    if train:
        biggest = max(train, key=lambda p: p.batch_size)
        lines.append(f"Training plan buffers (batch {biggest.batch_size}): {_human(biggest.nbytes, 'B')}")
    lines.append(rule)
    return "\n".join(lines)
