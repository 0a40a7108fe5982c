"""framework.ops creation, shape and indexing ops (ops/indexing.py, ops/creation.py): values on arrays
against NumPy, the same ops inside a model's plan, gradients against finite differences (float64),
ops without gradients, the errors raised when a graph is built, configs and unknown sizes."""
import math

import numpy as np
import pytest

import framework as fw
from framework import layers, ops
from framework.ops import OpError
from gradcheck import _plans, check_gradients, float64_mode
from op_cases import assert_op_gradients, assert_op_matches
from helpers import assert_no_allocation
from test_ops import apart, normal, positive

rng = np.random.default_rng(5)
C4 = rng.standard_normal(4)
_erf = np.vectorize(math.erf)


def ids(high):
    """A maker of integer indices in [-high, high) (negative ones count from the end)."""
    return lambda shape: rng.integers(-high, high, shape).astype("int32")


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


#: name -> (function of the inputs, sample shapes, input makers, NumPy reference of the arrays)
CASES = {
    "zeros_like": (lambda x: ops.zeros_like(x) + x * 2.0, [(3, 4)], [normal], lambda x: x * 2.0),
    "ones_like": (lambda x: ops.ones_like(x) * x, [(3, 4)], [normal], lambda x: x),
    "full_like": (lambda x: ops.full_like(x, 2.5) * x, [(3, 4)], [normal], lambda x: 2.5 * x),
    "full_like row": (lambda x: ops.full_like(x, C4) * x, [(3, 4)], [normal], lambda x: C4 * x),
    "broadcast_to": (lambda x: ops.broadcast_to(x, (None, 3, 4)), [(1, 4)], [normal],
                     lambda x: np.broadcast_to(x, (len(x), 3, 4))),
    "broadcast_to -1": (lambda x: ops.broadcast_to(x, (-1, 2, 3, 4)), [(2, 1, 1)], [normal],
                        lambda x: np.broadcast_to(x, (len(x), 2, 3, 4))),
    "tile": (lambda x: ops.tile(x, (1, 2, 3)), [(2, 3)], [normal], lambda x: np.tile(x, (1, 2, 3))),
    "tile sample axes": (lambda x: ops.tile(x, (2,)), [(2, 3)], [normal], lambda x: np.tile(x, (2,))),
    "repeat": (lambda x: ops.repeat(x, 2, axis=1), [(2, 3)], [normal], lambda x: np.repeat(x, 2, axis=1)),
    "repeat counts": (lambda x: ops.repeat(x, [2, 0, 1], axis=-1), [(2, 3)], [normal],
                      lambda x: np.repeat(x, [2, 0, 1], axis=-1)),
    "stack": (lambda a, b: ops.stack([a, b], axis=1), [(3, 4), (3, 4)], [normal, normal],
              lambda a, b: np.stack([a, b], axis=1)),
    "stack last, constant": (lambda a: ops.stack([a, C4[None, None]], axis=-1), [(3, 4)], [normal],
                             lambda a: np.stack([a, np.broadcast_to(C4, a.shape)], axis=-1)),
    "split sections": (lambda x: ops.split(x, 2, axis=-1)[0] * ops.split(x, 2, axis=-1)[1], [(3, 4)], [normal],
                       lambda x: x[..., :2] * x[..., 2:]),
    "split indices": (lambda x: ops.concatenate(ops.split(x, [1, 3], axis=1)[::-1], axis=1), [(4, 2)], [normal],
                      lambda x: np.concatenate(np.split(x, [1, 3], axis=1)[::-1], axis=1)),
    "slice": (lambda x: ops.slice(x, (0, 1, 0), (None, 2, 3)), [(3, 4)], [normal], lambda x: x[:, 1:3, 0:3]),
    "slice to the end": (lambda x: ops.slice(x, [0, 1, 2], [-1, -1, 2]), [(3, 4)], [normal], lambda x: x[:, 1:, 2:4]),
    "slice_update": (lambda x, u: ops.slice_update(x, (0, 1, 2), u), [(3, 4), (2, 2)], [normal, normal],
                     lambda x, u: np.concatenate([x[:, :1], np.concatenate([x[:, 1:, :2], u], 2)], 1)),
    "take": (lambda x: ops.take(x, [3, -1, 0, 0], axis=2), [(3, 4)], [normal], lambda x: x[:, :, [3, -1, 0, 0]]),
    "take 2-D indices": (lambda x: ops.take(x, [[0, 2], [2, 2]], axis=1), [(3, 4)], [normal],
                         lambda x: np.take(x, [[0, 2], [2, 2]], axis=1)),
    "take_along_axis": (lambda x, i: ops.take_along_axis(x, i, axis=-1), [(3, 4), (3, 2)], [normal, ids(4)],
                        lambda x, i: np.take_along_axis(x, i.astype(int), axis=-1)),
    "take_along_axis broadcast": (lambda x, i: ops.take_along_axis(x, i, axis=1), [(3, 4), (5, 1)],
                                  [normal, ids(3)], lambda x, i: np.take_along_axis(x, i.astype(int), axis=1)),
    "take_along_axis constant": (lambda x: ops.take_along_axis(x, np.array([[[2, 0, 0, 1]]]), axis=1), [(3, 4)],
                                 [normal], lambda x: np.take_along_axis(x, np.array([[[2, 0, 0, 1]]]), axis=1)),
    "pad": (lambda x: ops.pad(x, ((0, 0), (1, 2), (0, 1))), [(3, 4)], [normal],
            lambda x: np.pad(x, ((0, 0), (1, 2), (0, 1)))),
    "pad constant": (lambda x: ops.pad(x, [[0, 0], [2, 0], [1, 1]], constant_values=-1.5), [(3, 4)], [normal],
                     lambda x: np.pad(x, [[0, 0], [2, 0], [1, 1]], constant_values=-1.5)),
    "pad reflect": (lambda x: ops.pad(x, ((0, 0), (2, 1), (1, 3)), mode="reflect"), [(3, 4)], [normal],
                    lambda x: np.pad(x, ((0, 0), (2, 1), (1, 3)), mode="reflect")),
    "pad symmetric": (lambda x: ops.pad(x, ((0, 0), (2, 3)), mode="symmetric"), [(4,)], [normal],
                      lambda x: np.pad(x, ((0, 0), (2, 3)), mode="symmetric")),
    "flip": (lambda x: ops.flip(x, axis=-1), [(3, 4)], [normal], lambda x: np.flip(x, -1)),
    "flip axes": (lambda x: ops.flip(x, axis=(1, 2)) * x, [(3, 4)], [normal], lambda x: np.flip(x, (1, 2)) * x),
    "roll": (lambda x: ops.roll(x, 1, axis=1), [(3, 4)], [normal], lambda x: np.roll(x, 1, axis=1)),
    "roll axes": (lambda x: ops.roll(x, (-1, 2), axis=(2, 1)) * x, [(3, 4)], [normal],
                  lambda x: np.roll(x, (-1, 2), axis=(2, 1)) * x),
    "tril": (lambda x: ops.tril(x), [(3, 4)], [normal], np.tril),
    "tril k": (lambda x: ops.tril(x, k=-1), [(2, 3, 3)], [normal], lambda x: np.tril(x, -1)),
    "triu": (lambda x: ops.triu(x, 1), [(3, 4)], [normal], lambda x: np.triu(x, 1)),
    "cumsum": (lambda x: ops.cumsum(x, axis=1), [(3, 4)], [normal], lambda x: np.cumsum(x, axis=1)),
    "cumsum last": (lambda x: ops.cumsum(x, axis=-1) * x, [(3, 4)], [normal], lambda x: np.cumsum(x, axis=-1) * x),
    "cumprod": (lambda x: ops.cumprod(x, axis=-1), [(3, 4)], [apart], lambda x: np.cumprod(x, axis=-1)),
    "cumprod axis 1": (lambda x: ops.cumprod(x, axis=1), [(3, 4)], [positive], lambda x: np.cumprod(x, axis=1)),
    "top_k values": (lambda x: ops.top_k(x, 2)[0], [(3, 4)], [normal], lambda x: -np.sort(-x, axis=-1)[..., :2]),
    "top_k all": (lambda x: ops.top_k(x, 4)[0] * C4, [(4,)], [normal], lambda x: -np.sort(-x, axis=-1) * C4),
    "erf": (ops.erf, [(3, 4)], [normal], _erf),
    "erf of large values": (lambda x: ops.erf(x * 3.0), [(3, 4)], [normal], lambda x: _erf(x * 3.0)),
    "gelu exact": (lambda x: ops.gelu(x, approximate=False), [(3, 4)], [normal], _gelu),
    "gelu tanh": (lambda x: ops.gelu(x, approximate=True), [(3, 4)], [normal],
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
}


def _model(case):
    fn, shapes = case[0], case[1]
    probes = [make((1,) + shape) for make, shape in zip(case[2], shapes)]
    inputs = [fw.Input(shape, dtype=None if p.dtype.kind == "f" else p.dtype.name) for shape, p in zip(shapes, probes)]
    return fw.Model(inputs if len(inputs) > 1 else inputs[0], fn(*inputs))


def _data(case, batch=3):
    return [make((batch,) + shape) for make, shape in zip(case[2], case[1])]


def _float32(x):
    return x.astype("float32") if x.dtype.kind == "f" else x


@pytest.mark.parametrize("name", CASES)
def test_op_on_arrays_matches_numpy_and_the_plan(name):
    case = CASES[name]
    assert_op_matches(case[0], case[3], _model(case), [_float32(x) for x in _data(case)])


@pytest.mark.parametrize("name", CASES)
def test_op_gradients_match_finite_differences(name):
    case = CASES[name]
    assert_op_gradients(lambda: _model(case), lambda: _data(case))


# ----- take from a weight by a tensor of indices (an embedding lookup) ---------------------------------------------
class Lookup(layers.Layer):
    """An embedding written with ops.take: its gradient is scatter-added into the table."""

    def __init__(self, rows, width, axis=0, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.table = self.add_weight(shape=(rows, width), initializer="random_normal", trainable=True)

    def call(self, indices):
        return ops.take(self.table, indices, axis=self.axis)


@pytest.mark.parametrize("axis", [0, None])
def test_take_by_a_tensor_of_indices_gathers_from_a_weight_with_its_gradient(axis):
    with float64_mode():
        fw.utils.set_random_seed(0)
        tokens = fw.Input((5,), dtype="int32")
        lookup = Lookup(6, 3, axis=axis)
        model = fw.Model(tokens, lookup(tokens) * 2.0)
        data = np.array([[0, 1, 1, 5, -1], [2, 2, 2, 0, 3]], dtype="int32")  # repeats accumulate
        table = lookup.table.numpy()
        expected = np.take(table, data, axis=axis) * 2.0
        np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-12)
        check_gradients(model, [data], [normal(expected.shape)])


def test_take_by_a_tensor_of_indices_from_a_constant_and_on_arrays():
    table = np.arange(12.0).reshape(4, 3)
    tokens = fw.Input((2,), dtype="int32")
    model = fw.Model(tokens, ops.take(table, tokens, axis=0))
    data = np.array([[3, 0], [1, 1]], dtype="int32")
    np.testing.assert_allclose(model.predict(data, verbose=0), table[data])
    np.testing.assert_allclose(ops.take(table, data, axis=0), table[data])
    np.testing.assert_allclose(ops.take(table, np.array([1, 5])), [1.0, 5.0])  # axis=None: the flattened table


class Stamp(layers.Layer):
    """Writes its weight (batch axis of size 1) into every sample's top-left corner."""

    def build(self, input_shape):
        self.patch = self.add_weight(shape=(1, 2, 2), initializer="random_normal", trainable=True)

    def call(self, x):
        return ops.slice_update(x, [0, 1, 0], self.patch) * x


def test_slice_update_of_a_tensor_by_a_weight_writes_every_sample_and_sums_its_gradient():
    with float64_mode():
        fw.utils.set_random_seed(1)
        inp = fw.Input((3, 4))
        stamp = Stamp()
        model = fw.Model(inp, stamp(inp))
        data = normal((4, 3, 4))
        expected = data.copy()
        expected[:, 1:3, 0:2] = stamp.patch.numpy()
        np.testing.assert_allclose(model.predict(data, verbose=0), expected * data, rtol=1e-12)
        check_gradients(model, [data], [normal(data.shape)])
    # on arrays, NumPy's rule: a batch axis of size 1 updates the first row only
    np.testing.assert_array_equal(ops.slice_update(np.zeros((2, 2)), [0, 1], np.ones((1, 1))), [[0, 1], [0, 0]])


# ----- ops without gradients -------------------------------------------------------------------------------------
def test_one_hot_on_arrays_in_a_model_and_without_gradient():
    labels = np.array([[0, 2, 1], [3, -1, 2]])
    expected = np.eye(3, dtype="float32")[np.clip(labels, 0, 2)] * ((labels >= 0) & (labels < 3))[..., None]
    assert ops.one_hot(labels, 3).dtype == np.float32
    np.testing.assert_array_equal(ops.one_hot(labels, 3), expected)
    np.testing.assert_array_equal(ops.one_hot(labels, 3, axis=1, dtype="int32"), np.moveaxis(expected, -1, 1))
    x = fw.Input((3,), dtype="int32")
    np.testing.assert_array_equal(fw.Model(x, ops.one_hot(x, 3)).predict(labels, verbose=0), expected)
    np.testing.assert_array_equal(fw.Model(x, ops.one_hot(x, 3, axis=1)).predict(labels, verbose=0),
                                  np.moveaxis(expected, -1, 1))
    with float64_mode():
        f = fw.Input((3,))
        model = fw.Model(f, ops.one_hot(f * 2.0, 3) * ops.expand_dims(f, -1))
        data = np.array([[0.0, 0.5, 1.0]])
        train, _, _ = _plans(model, [data], [np.zeros((1, 3, 3))], "mse")
        train.train_step()
        # loss = mean((onehot(2x) x)^2): only the outer x carries a gradient, 2 x onehot^2 summed / n
        hot = np.eye(3)[[0, 1, 2]]
        np.testing.assert_allclose(train.input_grads[0], 2 * data * hot.sum(-1) / 9, rtol=1e-12)


@pytest.mark.parametrize("op, reference", [(ops.any, np.any), (ops.all, np.all)])
def test_any_and_all_on_arrays_and_in_a_model(op, reference):
    data = np.array([[[0.0, 1.0], [0.0, 0.0]], [[2.0, 3.0], [0.0, -1.0]]])
    assert op(data) == reference(data)
    np.testing.assert_array_equal(op(data, axis=-1, keepdims=True), reference(data, axis=-1, keepdims=True))
    with float64_mode():
        x = fw.Input((2, 2))
        model = fw.Model(x, ops.where(op(x, axis=(1, 2), keepdims=True), x, -x) * x)
        expected = np.where(reference(data, axis=(1, 2), keepdims=True), data, -data) * data
        np.testing.assert_allclose(model.predict(data, verbose=0), expected)
        check_gradients(model, [data], [normal(data.shape)])


def test_top_k_indices_values_and_ties():
    x = np.array([[5.0, 2.0, 7.0, 1.0, 9.0, 3.0], [1.0, 4.0, 4.0, 0.0, 4.0, -2.0]])
    values, indices = ops.top_k(x, 3)
    np.testing.assert_array_equal(values, [[9, 7, 5], [4, 4, 4]])
    np.testing.assert_array_equal(indices, [[4, 2, 0], [1, 2, 4]])
    assert indices.dtype == np.int32
    inp = fw.Input((6,))
    v, i = ops.top_k(inp, 3)
    assert i.dtype == "int32" and v.shape == i.shape == (None, 3)
    model = fw.Model(inp, [v, i])
    got_values, got_indices = model.predict(x.astype("float32"), verbose=0)
    np.testing.assert_array_equal(got_values, values)
    np.testing.assert_array_equal(got_indices, indices)
    with float64_mode():
        inp = fw.Input((6,))
        model = fw.Model(inp, ops.take_along_axis(inp * 2.0, ops.top_k(inp, 2)[1], axis=-1))
        check_gradients(model, [normal((4, 6))], [normal((4, 2))])


def test_erf_on_arrays_is_vectorised_and_float32_stays_float32():
    x = np.linspace(-4, 4, 101).astype("float32")
    assert ops.erf(x).dtype == np.float32
    np.testing.assert_allclose(ops.erf(x), _erf(x.astype(float)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ops.gelu(x, approximate=False), _gelu(x.astype(float)), rtol=1e-5, atol=1e-7)
    assert ops.erf(np.array([0, 1])).dtype.kind == "f"


def test_creation_functions_return_arrays_and_refuse_tensors():
    assert ops.arange(3).dtype == np.int32 and ops.arange(3).tolist() == [0, 1, 2]
    assert ops.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert ops.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert ops.arange(4, dtype="float64").dtype == np.float64
    assert ops.linspace(0, 1, 5).dtype == np.float32
    np.testing.assert_allclose(ops.linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1])
    samples, step = ops.linspace(0, 1, 4, endpoint=False, retstep=True)
    assert step == 0.25 and samples.tolist() == [0, 0.25, 0.5, 0.75]
    assert ops.zeros_like(np.ones((2, 3), dtype="int32")).dtype == np.int32
    np.testing.assert_array_equal(ops.full_like(np.ones((2, 2)), 7, dtype="int64"), np.full((2, 2), 7))
    with pytest.raises(TypeError, match="ops.arange makes an array from numbers"):
        ops.arange(fw.Input((3,)))
    with pytest.raises(TypeError, match="ops.linspace makes an array"):
        ops.linspace(0, fw.Input((3,)))


def test_arrays_follow_numpy_on_every_axis():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(ops.flip(x), np.flip(x))
    np.testing.assert_array_equal(ops.roll(x, 5), np.roll(x, 5))
    np.testing.assert_array_equal(ops.cumsum(x), np.cumsum(x))
    np.testing.assert_array_equal(ops.stack([x, x]), np.stack([x, x]))
    np.testing.assert_array_equal(ops.take(x, [1, 0], axis=0), x[[1, 0]])
    np.testing.assert_array_equal(ops.slice(x, (1, 0, 2), (1, 2, 2)), x[1:2, 0:2, 2:4])
    np.testing.assert_array_equal(ops.slice_update(x, (1, 1, 1), np.zeros((1, 2, 2)))[1, 1:, 1:3], np.zeros((2, 2)))
    assert [p.shape for p in ops.split(x, 2)] == [(1, 3, 4), (1, 3, 4)]
    np.testing.assert_array_equal(ops.pad(x, 1, mode="edge"), np.pad(x, 1, mode="edge"))
    np.testing.assert_array_equal(ops.repeat(x, 2), np.repeat(x, 2))


# ----- errors when the graph is built ---------------------------------------------------------------------------
ERRORS = [
    (lambda x: ops.flip(x, 0), r"Op 'flip.*' \(Flip\) over axis 0 of a rank-3 tensor would reduce or move the batch"),
    (lambda x: ops.roll(x, 1), r"Op 'roll.*' \(Roll\) with axis=None on a rank-3 tensor"),
    (lambda x: ops.tile(x, (2, 1, 1)), r"Op 'tile.*' \(Tile\) on \(None, 3, 4\): repeats \(2, 1, 1\) would tile the "
                                       r"batch axis"),
    (lambda x: ops.repeat(x, [1, 2], axis=1), r"Op 'repeat.*' \(Repeat\) on \(None, 3, 4\): 2 repeat counts for axis "
                                              r"1 of size 3"),
    (lambda x: ops.broadcast_to(x, (2, 3, 4)), r"Op 'broadcast_to.*' \(BroadcastTo\) on \(None, 3, 4\): inside a "
                                               r"model the target shape \(2, 3, 4\)"),
    (lambda x: ops.broadcast_to(x, (None, 3, 5)), r"\(BroadcastTo\): operands \(None, 3, 4\), \(None, 3, 5\) cannot "
                                                  r"be broadcast"),
    (lambda x: ops.pad(x, 1), r"Op 'pad.*' \(Pad\) on \(None, 3, 4\): pad_width 1 must pad the batch axis by "
                              r"\(0, 0\)"),
    (lambda x: ops.pad(x, ((0, 0), (1, 1))), r"\(Pad\) on \(None, 3, 4\): pad_width .* does not give \(before, "
                                             r"after\) for each of 3 axes"),
    (lambda x: ops.pad(x, ((0, 0),) * 3, mode="mean"), r"\(Pad\) on \(None, 3, 4\): mode 'mean' is not available"),
    (lambda x: ops.take(x, [0, 4], axis=2), r"Op 'take.*' \(Take\) on \(None, 3, 4\): indices must be integers in "
                                            r"range for axis 2, received \[0, 4\]"),
    (lambda x: ops.take(x, [0, 1]), r"\(Take\) with axis=None on a rank-3 tensor would also reduce the batch axis"),
    (lambda x: ops.take(x, fw.Input((2,), dtype="int32")), r"Op 'lookup.*' \(Lookup\) on \(None, 3, 4\), "
                                                            r"\(None, 2\): a tensor of indices picks from a weight"),
    (lambda x: ops.take(np.ones((3, 4)), fw.Input((2,), dtype="int32"), axis=1),
     r"\(Lookup\) on \(3, 4\), \(None, 2\): a tensor of indices picks along axis 0 \(or None\)"),
    (lambda x: ops.take_along_axis(x, fw.Input((2,), dtype="int32"), axis=1),
     r"Op 'take_along_axis.*' \(TakeAlongAxis\) on \(None, 3, 4\), \(None, 2\): x and indices need the same rank"),
    (lambda x: ops.take_along_axis(x, fw.Input((2, 3), dtype="int32"), axis=1),
     r"\(TakeAlongAxis\): operands \(None, 1, 4\), \(None, 1, 3\) cannot be broadcast together"),
    (lambda x: ops.slice(x, (1, 0, 0), (None, 2, 2)), r"Op 'slice.*' \(Slice\) on \(None, 3, 4\): start_indices "
                                                      r"\[1, 0, 0\] and shape \[-1, 2, 2\] .* keep the batch axis"),
    (lambda x: ops.slice(x, (0, 2, 0), (None, 2, 2)), r"\(Slice\) on \(None, 3, 4\): the block at \[0, 2, 0\] of "
                                                      r"size \[-1, 2, 2\] is not inside the input"),
    (lambda x: ops.slice_update(x, (0, 2, 0), np.ones((1, 2, 2))), r"Op 'slice_update.*' \(SliceUpdate\) on "
                                                                   r"\(None, 3, 4\), \(1, 2, 2\): updates at"),
    (lambda x: ops.slice_update(x, (0, 0, 0), np.ones((2, 2, 2))), r"\(SliceUpdate\) on \(None, 3, 4\), "
                                                                   r"\(2, 2, 2\): start_indices .* batch axis whole"),
    (lambda x: ops.stack([x, x]), r"Op 'stack.*' \(Stack\) over axis 0 of a rank-4 tensor would reduce or move"),
    (lambda x: ops.stack([x, fw.Input((3,))], axis=1), r"\(Stack\) on \(None, 3, 4\), \(None, 3\): operands of "
                                                       r"different ranks"),
    (lambda x: ops.split(x, 2, axis=1), r"Op 'split' on \(None, 3, 4\): axis 1 of size 3 cannot be split into 2 "
                                        r"equal sections"),
    (lambda x: ops.split(x, [3, 1], axis=2), r"Op 'split' on \(None, 3, 4\): indices \[3, 1\] are not increasing"),
    (lambda x: ops.split(x, 2), r"Op 'split' on \(None, 3, 4\): axis 0 is not a sample axis"),
    (lambda x: ops.tril(x[:, 0]), r"Op 'tril.*' \(Tril\) on \(None, 4\): needs two sample axes"),
    (lambda x: ops.cumsum(x), r"Op 'cumsum.*' \(Cumsum\) with axis=None on a rank-3 tensor would also reduce"),
    (lambda x: ops.cumprod(x, axis=0), r"\(Cumprod\) over axis 0 of a rank-3 tensor"),
    (lambda x: ops.one_hot(x, 3, axis=0), r"Op 'one_hot.*' \(OneHot\) over axis 0 of a rank-4 tensor"),
    (lambda x: ops.one_hot(x > 0, 3), r"\(OneHot\) on \(None, 3, 4\): class ids of dtype bool are not numbers"),
    (lambda x: ops.top_k(x, 5), r"Op 'top_k.*' \(TopK\) on \(None, 3, 4\): k=5 must be between 1 and the size of "
                                r"the last"),
    (lambda x: ops.full_like(x, np.ones(3)), r"Op 'full_like.*' \(FullLike\) on \(None, 3, 4\): fill_value of shape "
                                             r"\(3,\) does not broadcast"),
]


@pytest.mark.parametrize("build, message", ERRORS)
def test_graph_errors_name_the_op_and_the_shapes(build, message):
    with pytest.raises(OpError, match=message):
        build(fw.Input((3, 4)))


# ----- plans: no allocation, configs, unknown sizes ---------------------------------------------------------------
def _mixed(inp, tokens):
    h = layers.Dense(4)(inp)
    h = ops.pad(ops.flip(h, 1), ((0, 0), (1, 0), (0, 2)), mode="reflect")
    h = h + ops.tile(ops.slice(h, (0, 0, 0), (-1, 1, 6)), (1, 5, 1))
    h = ops.cumsum(ops.roll(h, 1, axis=-1), axis=1)[:, :4, :4] + ops.triu(ops.take(h, [0, 2, 1, 3], axis=1)[:, :, :4])
    h = ops.slice_update(h, (0, 0, 0), ops.stack(ops.split(h[:, :2, :2], 2, axis=1), axis=2)[:, 0] * 2.0)
    h = h + ops.take_along_axis(h, ops.top_k(h, 2)[1], axis=-1)[:, :, :1] + ops.gelu(h, approximate=False)
    h = h + ops.erf(ops.repeat(h[:, :, :2], 2, axis=2)) + ops.broadcast_to(ops.cumprod(h[:, :1, :4], axis=1),
                                                                          (None, 4, 4))
    h = h + ops.take(ops.ones((6, 4)) * 0.1, tokens, axis=0) + ops.one_hot(tokens, 4) + ops.zeros_like(h)
    return layers.Dense(1)(ops.reshape(h, (-1, 16)))


def test_a_model_of_these_ops_trains_without_allocating():
    fw.utils.set_random_seed(0)
    inp, tokens = fw.Input((4, 3)), fw.Input((4,), dtype="int32")
    model = fw.Model([inp, tokens], _mixed(inp, tokens))
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((64, 4, 3)).astype("float32")
    t = rng.integers(0, 6, (64, 4)).astype("int32")
    y = x.sum(axis=(1, 2))[:, None].astype("float32")
    history = model.fit([x, t], y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    plan = model.plan("train", 256)
    for buffer in plan.inputs + plan.targets + plan.sample_weights:
        buffer.fill(1)
    assert_no_allocation(plan.train_step, calls=20, held=1024, peak=48 * 1024)


def test_models_with_these_ops_round_trip_through_configs():
    fw.utils.set_random_seed(2)
    inp, tokens = fw.Input((4, 3)), fw.Input((4,), dtype="int32")
    model = fw.Model([inp, tokens], _mixed(inp, tokens))
    data = [rng.standard_normal((5, 4, 3)).astype("float32"), rng.integers(0, 6, (5, 4)).astype("int32")]
    expected = model.predict(data, verbose=0)
    rebuilt = fw.models.model_from_yaml(model.to_yaml())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), expected, rtol=1e-5)


def test_ops_on_unknown_sizes_are_traced_at_each_batch_shape():
    inp = fw.Input((None, 3))
    out = ops.pad(ops.flip(inp, 1), ((0, 0), (1, 1), (0, 0)), mode="symmetric") * 2.0
    out = ops.cumsum(ops.tile(out, (1, 1, 2)), axis=1) + ops.repeat(ops.triu(out), 2, axis=2)
    assert out.shape == (None, None, 6)
    model = fw.Model(inp, out)
    for steps in (2, 5):
        x = rng.standard_normal((2, steps, 3)).astype("float32")
        h = np.pad(np.flip(x, 1), ((0, 0), (1, 1), (0, 0)), mode="symmetric") * 2.0
        expected = np.cumsum(np.tile(h, (1, 1, 2)), axis=1) + np.repeat(np.triu(h), 2, axis=2)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
