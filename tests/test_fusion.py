"""Elementwise fusion (framework.ops.fusion): which entries fuse, fused plans equal to unfused ones
(outputs, weight and input gradients) for every formula, gradients against finite differences,
no allocation in a fused training step, and the kernel caches."""
import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from framework.graph.flattening import flatten_model
from framework.ops import fusion, fusion_codegen
from gradcheck import check_gradients, float64_mode, floatx
from helpers import assert_no_allocation, one_training_step


@pytest.fixture
def mode():
    """Set ``fusion.MODE`` for a test; restored after."""
    saved = fusion.MODE
    yield lambda value: setattr(fusion, "MODE", value)
    fusion.MODE = saved


class Chain(layers.Layer):
    """A custom layer applying ``fn(x, self)`` with a bias ``b`` (C,), a row ``g`` (1, C), a scalar ``s``
    and a matrix ``m`` (steps, C) among its weights."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        self.b = self.add_weight(shape=shape[-1:], initializer="random_normal")
        self.g = self.add_weight(shape=(1, shape[-1]), initializer="random_normal")
        self.s = self.add_weight(shape=(), initializer="ones")
        self.m = self.add_weight(shape=shape, initializer="random_normal")

    def call(self, x):
        return self.fn(x, self)


def _apart(rng, shape):
    """Values 0.2..2 in size with random signs: away from kinks and ties."""
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


#: name -> (function of (x, layer), sample shape, MODE)
CHAINS = {
    "bias relu": (lambda x, l: ops.relu(x + l.b), (6,), "1"),
    "row scale tanh": (lambda x, l: ops.tanh(x * l.g - 0.5) * l.s, (6,), "1"),
    "sigmoid silu gelu": (lambda x, l: ops.gelu(ops.silu(ops.sigmoid(x + l.b) * 3.0 - 1.0) + x), (6,), "1"),
    "arithmetic": (lambda x, l: (x - l.b) / (ops.abs(x) + 1.5) * 2 - ops.square(x) + ops.sqrt(ops.abs(x) + 1)
                   - ops.rsqrt(ops.square(x) + l.s) + (x * 3 + 1) / 2, (6,), "1"),  # 3, 1, 2: integer constants
    "max min clip": (lambda x, l: ops.clip(ops.maximum(x, l.b) + ops.minimum(x, 0.5), -1.0, 1.5) * l.s, (6,), "1"),
    "where of a comparison": (lambda x, l: ops.where(x > 0.1, x * l.s, 0.1 * x) + l.b, (6,), "1"),
    "where of an input": (lambda x, l: ops.where(ops.sum(x, axis=-1, keepdims=True) > 0, x, -x) * 2.0, (6,), "1"),
    "layer norm tail": (lambda x, l: (x - ops.mean(x, axis=-1, keepdims=True))
                        * ops.rsqrt(ops.var(x, axis=-1, keepdims=True) + 1e-3) * l.g + l.b, (4, 6), "1"),
    "mod and div reads": (lambda x, l: (x * l.m + l.b) * ops.sum(x, axis=(1, 2), keepdims=True)
                          - ops.sum(x, axis=-1, keepdims=True), (4, 6), "1"),
    "residual merges": (lambda x, l: layers.average([ops.tanh(x * l.s) + x, x * l.b, x - ops.relu(x)]) * 0.5
                        + layers.multiply([x + l.b, x * l.s, x]), (6,), "1"),
    "no-gradient ops": (lambda x, l: ops.cast(x, "float32") * ops.stop_gradient(x + l.b) + ops.sign(x)
                        * ops.floor(x) + l.b, (6,), "1"),
    "libm unary": (lambda x, l: ops.sin(ops.log1p(ops.exp(x * 0.5) + l.s)) + ops.cos(x) * ops.log(ops.abs(x) + 1)
                   + ops.softplus(x), (6,), "all"),
    "libm power erf": (lambda x, l: ops.power(ops.abs(x) + 1.0, l.s + 0.5) + ops.erf(x)
                       + ops.gelu(x + l.b, approximate=False), (6,), "all"),
}


def _model(fn, shape, seed=0):
    fw.utils.set_random_seed(seed)
    inp = fw.Input(shape)
    out = Chain(fn)(inp)
    return fw.Model(inp, out)


def _run(model, x, y, fused_mode, mode):
    """(outputs, weight gradients, input gradient) of one training step with ``fusion.MODE = fused_mode``."""
    mode(fused_mode)
    plan, output, grads, input_grad = one_training_step(model, x, y)
    return output, grads, input_grad, [type(item["layer"]).__name__ for item in plan.describe]


def _close(a, b, tol):
    scale = max(float(np.max(np.abs(b))), 1e-30) if b.size else 1.0
    return float(np.max(np.abs(a - b))) <= tol * scale if b.size else True


@pytest.mark.parametrize("dtype, tol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("name", list(CHAINS))
def test_fused_plan_equals_unfused_plan(name, dtype, tol, mode):
    fn, shape, fuse = CHAINS[name]
    rng = np.random.default_rng(1)
    x = _apart(rng, (5,) + shape).astype(dtype)
    with floatx(dtype):
        model = _model(fn, shape)
        y = rng.standard_normal((5,) + shape).astype(dtype)
        fused = _run(model, x, y, fuse, mode)
        plain = _run(model, x, y, "0", mode)
    assert "FusedElementwise" in fused[3] and "FusedElementwise" not in plain[3]
    assert _close(fused[0], plain[0], tol), np.max(np.abs(fused[0] - plain[0]))
    for var, a, b in zip(model.trainable_weights, fused[1], plain[1]):
        assert _close(a, b, tol), (var.path, np.max(np.abs(a - b)), np.max(np.abs(b)))
    assert _close(fused[2], plain[2], tol), np.max(np.abs(fused[2] - plain[2]))


@pytest.mark.parametrize("name", ["bias relu", "sigmoid silu gelu", "where of a comparison", "layer norm tail",
                                  "mod and div reads", "residual merges", "libm power erf"])
def test_fused_gradients_match_finite_differences(name, mode):
    fn, shape, fuse = CHAINS[name]
    mode(fuse)
    with float64_mode():
        model = _model(fn, shape, seed=3)
        rng = np.random.default_rng(2)
        x = _apart(rng, (4,) + shape)
        check_gradients(model, [x], [rng.standard_normal((4,) + shape)])
        assert any(type(e.layer).__name__ == "FusedElementwise" for e in model.flat_graph()[2])


# ----- which entries fuse ----------------------------------------------------------------------------
def _kinds(model):
    return [type(e.layer).__name__ for e in model.flat_graph()[2]]


class Linear(layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

    def call(self, x):
        y = ops.matmul(x, self.w) + self.b
        return ops.relu(y) if self.activation == "relu" else y


def test_linear_relu_fuses_bias_and_activation_and_the_switch_turns_it_off(mode):
    inp = fw.Input((8,))
    model = fw.Model(inp, Linear(4)(Linear(6, "relu")(inp)))
    assert _kinds(model) == ["Matmul", "FusedElementwise", "Matmul", "FusedElementwise"]  # a lone bias too
    fused = model.flat_graph()[2][1].layer
    assert fused.name.startswith("fused(add") and "relu" in fused.name
    assert len(fused.weights) == 1 and fused.weights[0] is model.layers[1].b
    mode("0")
    assert _kinds(model) == ["Matmul", "Add", "Relu", "Matmul", "Add"]


def test_group_boundaries(mode):
    inp = fw.Input((6,))
    h = inp * 2.0
    out = ops.relu(h * h + 1.0)  # h is used twice: it ends the group
    assert _kinds(fw.Model(inp, out)) == ["Multiply", "FusedElementwise"]
    inp = fw.Input((6,))
    h = inp + 1.0
    assert _kinds(fw.Model(inp, [h, ops.relu(h)])) == ["Add", "Relu"]  # a model output is not absorbed
    assert _kinds(fw.Model(inp, [ops.relu(inp), inp + np.ones(6)])) == ["Relu", "FusedElementwise"]  # broadcast
    inp = fw.Input((6,))
    out = ops.cast(ops.cast(inp, "int32") + 1, "float32") * 2.0  # integers do not fuse
    assert "FusedElementwise" not in _kinds(fw.Model(inp, out))
    inp = fw.Input((6,))
    out = ops.exp(ops.relu(inp + 1.0))  # libm-bound ops end a group unless MODE == "all"
    assert _kinds(fw.Model(inp, out)) == ["FusedElementwise", "Exp"]
    mode("all")
    assert _kinds(fw.Model(inp, out)) == ["FusedElementwise"]


def test_layers_of_two_traces_are_not_merged_and_the_graph_is_left_alone():
    inp = fw.Input((8,))
    model = fw.Model(inp, Linear(4, "relu")(Linear(6, "relu")(inp)) * 2.0)

    def graph():
        entries = flatten_model(model)[2]
        return [(id(e.node), e.in_keys, e.out_keys) for e in entries], [len(l.inbound_nodes) for l in model.layers]
    before = graph()
    assert _kinds(model) == ["Matmul", "FusedElementwise", "Matmul", "FusedElementwise", "Multiply"]  # no bias
    assert graph() == before


def test_non_contiguous_operand_is_copied_first(mode):
    inp = fw.Input((4, 6))
    out = ops.relu(inp[:, 1] * 2.0 + 1.0)  # a strided view of the input feeds the fused kernel
    model = fw.Model(inp, out)
    x = np.random.default_rng(0).standard_normal((3, 4, 6)).astype("float32")
    assert "FusedElementwise" in _kinds(model)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x[:, 1] * 2 + 1, 0), rtol=1e-6)


def test_fused_training_step_allocates_nothing():
    fw.utils.set_random_seed(0)
    inp = fw.Input((64,))
    h = Linear(64, "relu")(inp)
    model = fw.Model(inp, Linear(10)(Linear(32, "relu")(h)))
    model.compile(optimizer="adam", loss="mse")
    assert _kinds(model).count("FusedElementwise") == 3
    plan = model.plan("train", 256)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(0.5)
    assert_no_allocation(plan.train_step, calls=20)


# ----- kernel caches -----------------------------------------------------------------------------------
def _source(k):
    program = [fusion_codegen.Instr("({0} + {1})", ("{g}", "{g}"), (("x", 0), ("x", 1)), ())]
    return fusion_codegen.forward_source(program, ["i", "j"], k, "float32")


def test_kernels_are_written_under_the_cache_dir_and_kept_in_a_bounded_lru(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEWORK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fusion_codegen, "CACHE_SIZE", 2)
    monkeypatch.setattr(fusion_codegen, "_COMPILED", type(fusion_codegen._COMPILED)())
    first = fusion_codegen.compiled(_source(1))
    assert fusion_codegen.compiled(_source(1)) is first
    assert len(list((tmp_path / "fused").glob("fused_*.py"))) == 1
    fusion_codegen.compiled(_source(2))
    fusion_codegen.compiled(_source(3))
    assert len(fusion_codegen._COMPILED) == 2 and fusion_codegen.compiled(_source(1)) is not first
    y, a, b = np.zeros(6, "float32"), np.arange(6, dtype="float32"), np.ones(3, "float32")
    first(2, 3, np.zeros(1, "float32"), np.zeros(2, np.int64), y, a, b)
    np.testing.assert_array_equal(y, a + 1)


def test_an_unwritable_cache_dir_compiles_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("FRAMEWORK_CACHE_DIR", str(blocker))
    monkeypatch.setattr(fusion_codegen, "_COMPILED", type(fusion_codegen._COMPILED)())
    run = fusion_codegen.compiled(_source(4))
    y, a, b = np.zeros(4, "float32"), np.arange(4, dtype="float32"), np.full(2, 2.0, "float32")
    run(2, 2, np.zeros(1, "float32"), np.zeros(2, np.int64), y, a, b)
    np.testing.assert_array_equal(y, a + 2)
