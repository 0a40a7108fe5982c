"""Checking a run config's model section: the sequential form (a list of layers) and the
functional form (named inputs, nodes wired by name, outputs), before anything is built."""
import numpy as np

from framework.runs.catalog import suggestion
from framework.runs.checker import Checker, is_int
from framework.runs.confinement import name_problem
from framework.runs.messages import describe
from framework.runs.specs import Node


class ModelChecks(Checker):
    """The checks of ``model``: a model spec (a dict of ``Entry`` / ``Node`` objects) for building.

    Args:
        raw: the ``RawConfig`` being checked.
    """

    def model(self, value):
        """The checked model spec (``{'form': 'sequential' | 'functional', ...}``), or None."""
        path = ("model",)
        if not isinstance(value, dict):
            self.report(path, f"model must be a mapping, received {describe(value)}")
            return None
        if "layers" in value and ("nodes" in value or "inputs" in value):
            self.report(path, "model has both layers (the sequential form) and inputs/nodes (the functional "
                              "form); use one")
            return None
        if "layers" in value or "input_shape" in value:
            return self.sequential(value, path)
        if "nodes" in value or "inputs" in value or "outputs" in value:
            return self.functional(value, path)
        self.report(path, "model needs layers: [...] (the sequential form) or inputs, nodes and outputs "
                          "(the functional form)")
        return None

    def sequential(self, value, path):
        """The sequential form: ``input_shape`` and ``layers``."""
        layers = value.get("layers")
        first = layers[0] if isinstance(layers, list) and layers else None
        first_args = next(iter(first.values()), None) if isinstance(first, dict) and len(first) == 1 else None
        declared = isinstance(first_args, dict) and ("input_shape" in first_args or "input_dim" in first_args)
        ok = self.section(value, path, "sequential", optional=("input_shape",) if declared else ())
        spec = {"form": "sequential", "name": value.get("name"), "input_shape": None, "layers": [],
                "output_names": None}
        self.model_name(value, path)
        if not isinstance(layers, list) or not layers:
            if "layers" in value:
                self.report(path + ("layers",), "model.layers must be a non-empty list of layers "
                                                "(- Name: {arguments})")
            return None
        entries = [self.entry(item, path + ("layers", i), "layer") for i, item in enumerate(layers)]
        spec["layers"] = entries
        if "input_shape" in value:
            spec["input_shape"] = self.shape(value["input_shape"], path + ("input_shape",))
            ok = ok and spec["input_shape"] is not None
        return spec if ok else None

    def functional(self, value, path):
        """The functional form: ``inputs``, ``nodes`` and ``outputs``."""
        ok = self.section(value, path, "functional")
        spec = {"form": "functional", "name": value.get("name"), "inputs": {}, "nodes": [], "outputs": None,
                "output_list": True}
        self.model_name(value, path)
        inputs = value.get("inputs")
        known = {}  # name -> ("input" | "node", path)
        if isinstance(inputs, dict) and inputs:
            for name, item in inputs.items():
                ipath = path + ("inputs", name)
                if not isinstance(name, str):
                    self.report(ipath, f"input names are text, received {describe(name)}", key=True)
                    ok = False
                    continue
                if name_problem(name, "the input name"):
                    self.report(ipath, name_problem(name, "the input name"), key=True)
                    ok = False
                if isinstance(item, list) or is_int(item):
                    item = {"shape": item}
                if not self.section(item, ipath, "input", f"model.inputs.{name}"):
                    ok = False
                    continue
                shape = self.shape(item.get("shape"), ipath + ("shape",)) if "shape" in item else None
                dtype = item.get("dtype")
                if dtype is not None and (not isinstance(dtype, str) or not _valid_dtype(dtype)):
                    self.report(ipath + ("dtype",), f"unknown dtype {dtype!r}; use float32, float64, int32, ...")
                    ok = False
                if shape is None:
                    ok = False
                spec["inputs"][name] = {"shape": shape, "dtype": dtype}
                known[name] = ("input", ipath)
        elif "inputs" in value:
            self.report(path + ("inputs",), "model.inputs must be a mapping of input names to "
                                            "{shape: [...]}, received " + describe(inputs))
            ok = False
        nodes = value.get("nodes")
        if not isinstance(nodes, list) or not nodes:
            if "nodes" in value:
                self.report(path + ("nodes",), "model.nodes must be a non-empty list of nodes "
                                               "({name, layer | reuse, inputs})")
            nodes = []
            ok = False
        later = {}
        for i, item in enumerate(nodes):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                later.setdefault(item["name"], i)
        layer_nodes = {}  # node name -> the node that creates its layer
        nodes_ok = True
        for i, item in enumerate(nodes):
            node = self.node(item, path + ("nodes", i), known, later, layer_nodes)
            spec["nodes"].append(node)
            nodes_ok = nodes_ok and node is not None
        outputs = value.get("outputs")
        if "outputs" in value:
            names = [outputs] if isinstance(outputs, str) else outputs
            spec["output_list"] = not isinstance(outputs, str)
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                self.report(path + ("outputs",), "model.outputs must be a node name or a list of node names, "
                                                 f"received {describe(outputs)}")
                ok = False
            else:
                for j, name in enumerate(names):
                    opath = path + ("outputs",) + ((j,) if spec["output_list"] else ())
                    if known.get(name, ("",))[0] != "node":
                        ok = False
                        if name in known:
                            self.report(opath, f"output {name!r} is an input; outputs are nodes")
                        else:
                            self.report(opath, f"unknown node {name!r} in model.outputs; "
                                        + suggestion(name, [k for k, v in known.items() if v[0] == "node"], "nodes"))
                if len(set(names)) != len(names):
                    self.report(path + ("outputs",), "model.outputs lists a node twice")
                    ok = False
                spec["outputs"] = names
                spec["output_names"] = list(names)
        if ok and nodes_ok:
            self.unused(spec, path)
        return spec if ok else None

    def node(self, item, path, known, later, layer_nodes):
        """One functional node: a ``Node``, or None. ``known`` / ``layer_nodes`` grow with it."""
        if not isinstance(item, dict):
            self.report(path, f"a node is a mapping {{name, layer | reuse, inputs}}, received {describe(item)}")
            return None
        ok = self.section(item, path, "node", f"model.nodes[{path[-1]}]")
        name = item.get("name")
        if "name" in item and not isinstance(name, str):
            self.report(path + ("name",), f"a node's name is text, received {describe(name)}")
            ok, name = False, None
        elif name is not None and name_problem(name, "the node name"):
            self.report(path + ("name",), name_problem(name, "the node name"))
            ok = False
        if name is not None and name in known:
            first = self.locations.where(known[name][1])[1]
            self.report(path + ("name",), f"the name {name!r} is already used (line {first}); input and node "
                                          "names must be unique")
            ok = False
        if "layer" in item and "reuse" in item:
            self.report(path, f"node {name!r} has both layer and reuse; give one")
            ok = False
        elif "layer" not in item and "reuse" not in item:
            self.report(path, f"node {name!r} needs layer: {{Name: {{arguments}}}} or reuse: <node name>")
            ok = False
        entry, reuse = None, None
        if "layer" in item:
            entry = self.entry(item["layer"], path + ("layer",), "layer")
            if entry is None:
                ok = False
            elif "name" in entry.args:
                self.report(path + ("layer", entry.name, "name"), "the node's name names its layer; remove "
                                                                  "'name' from the layer's arguments", key=True)
                ok = False
        if "reuse" in item:
            reuse = item["reuse"]
            if not isinstance(reuse, str) or reuse not in layer_nodes:
                ok = False
                if isinstance(reuse, str) and known.get(reuse, ("",))[0] == "input":
                    self.report(path + ("reuse",), f"reuse names a node whose layer to share; {reuse!r} is an input")
                elif isinstance(reuse, str) and reuse in later and later[reuse] > path[-1]:
                    self.report(path + ("reuse",), f"node {reuse!r} is defined later (nodes[{later[reuse]}]); a node "
                                                   "can only reuse the layer of a node above it")
                else:
                    self.report(path + ("reuse",), f"unknown node {reuse!r} in reuse; "
                                + suggestion(reuse, list(layer_nodes), "nodes"))
            else:
                reuse = layer_nodes[reuse]
        raw_inputs = item.get("inputs")
        as_list = isinstance(raw_inputs, list)
        inputs = raw_inputs if as_list else [raw_inputs] if "inputs" in item else []
        if "inputs" in item and (not inputs or not all(isinstance(n, str) for n in inputs)):
            self.report(path + ("inputs",), f"a node's inputs are a name or a list of names, received "
                                            f"{describe(raw_inputs)}")
            ok = False
        elif "inputs" in item:
            for j, ref in enumerate(inputs):
                rpath = path + ("inputs",) + ((j,) if as_list else ())
                if ref in known:
                    continue
                ok = False
                if ref == name:
                    self.report(rpath, f"node {name!r} cannot take its own output as input")
                elif ref in later:
                    self.report(rpath, f"node {ref!r} is defined later (nodes[{later[ref]}]); list nodes after "
                                       "the nodes they read")
                else:
                    self.report(rpath, f"unknown input or node {ref!r}; " + suggestion(ref, list(known),
                                                                                     "inputs and nodes"))
        if name is not None and name not in known:
            known[name] = ("node", path)
            if entry is not None:
                layer_nodes[name] = name
            elif isinstance(reuse, str):
                layer_nodes[name] = reuse
        return Node(path, name, entry, reuse, inputs, as_list) if ok else None

    def model_name(self, value, path):
        """Check ``model.name``: text, and a safe name (it names saved files and logs)."""
        if "name" not in value or value["name"] is None:
            return
        if not isinstance(value["name"], str):
            self.report(path + ("name",), f"model.name must be text, received {describe(value['name'])}")
        elif name_problem(value["name"], "model.name"):
            self.report(path + ("name",), name_problem(value["name"], "model.name"))

    def unused(self, spec, path):
        """Report inputs and nodes that no output depends on."""
        needed, layers_needed = set(), set()
        by_name = {n.name: n for n in spec["nodes"] if n is not None}
        stack = list(spec["outputs"] or [])
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            needed.add(name)
            node = by_name.get(name)
            if node is not None:
                stack.extend(node.inputs)
                layers_needed.add(node.reuse or node.name)
        for name in spec["inputs"]:
            if name not in needed:
                self.report(path + ("inputs", name), f"input {name!r} is not used by any output", key=True)
        for node in by_name.values():
            if node.name not in needed and node.name not in layers_needed:
                self.report(node.path, f"node {node.name!r} is not used by any output")


def _valid_dtype(name):
    try:
        return np.dtype(name).kind in "biuf"
    except TypeError:
        return False
