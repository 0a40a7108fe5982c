"""model.summary(): layers, output shapes and parameters, plus bytes and FLOPs from a plan."""
from framework.layers.layer import format_shape


def _human(n, unit):
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.4g} {prefix}{unit}"
        n /= 1000
    return f"{n:.4g} P{unit}"


def summary_text(model):
    """The summary table as text. FLOPs are per sample; memory is the predict plan's at batch 1."""
    if not model.built or not model.outputs:
        raise ValueError(f"Model '{model.name}' has not been built yet, so its layers have no shapes: give it "
                         "an Input (or input_shape= on the first layer), call build(input_shape), or fit it first")
    plan = model._plan("predict", 1)
    rows = [("Layer (type)", "Output Shape", "Param #", "FLOPs")]
    for item in plan.describe:
        layer, node = item["layer"], item["node"]
        shapes = [t.shape for t in node.outputs]
        shape = format_shape(shapes[0]) if len(shapes) == 1 else format_shape(shapes)
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, str(layer.count_params()),
                     _human(item["flops"], "FLOP") if item["flops"] else "0"))
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(4)]
    rule = "-" * sum(widths)
    lines = [f'Model: "{model.name}"', rule]
    for i, row in enumerate(rows):
        lines.append("".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            lines.append("=" * sum(widths))
    trainable = sum(w.value.size for w in model.trainable_weights)
    total = model.count_params()
    flops = sum(item["flops"] for item in plan.describe)
    lines += ["=" * sum(widths),
              f"Total params: {total:,} ({_human(total * plan.dtype.itemsize, 'B')})",
              f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}",
              f"Forward FLOPs per sample: {_human(flops, 'FLOP')}",
              f"Predict plan buffers (batch 1, reused by liveness): {_human(plan.nbytes, 'B')}"]
    train = [p for (mode, _, _), p in model._plans.items() if mode == "train"]
    if train:
        biggest = max(train, key=lambda p: p.batch_size)
        lines.append(f"Training plan buffers (batch {biggest.batch_size}): {_human(biggest.nbytes, 'B')}")
    lines.append(rule)
    return "\n".join(lines)
