"""framework.plan on its own: buffer allocation, the parameter arena, the plan cache, liveness."""
import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.variables import Variable
from framework.plan.arena import contiguous_run, gradient_views, pack
from framework.plan.buffers import Allocator
from framework.plan.cache import PlanCache
from framework.plan.compiler import compile_plan
from framework.plan.plan import Plan
from framework.plan.steps import copy_step, matmul_step, rows2d, rows2d_last


def variable(shape, value=1.0, name="w"):
    return Variable(np.full(shape, value, dtype="float32"), name, f"layer/{name}")


# ----- Allocator ----------------------------------------------------------------------------------
def test_allocator_without_reuse_keeps_every_block():
    alloc = Allocator(reuse=False)
    a = alloc.allocate((4, 8), "float32")
    alloc.release(a)
    b = alloc.allocate((4, 8), "float32")
    assert not np.shares_memory(a, b)
    assert alloc.nbytes == 2 * 4 * 8 * 4


def test_allocator_with_reuse_takes_the_smallest_freed_block_that_fits():
    alloc = Allocator(reuse=True)
    big, small = alloc.allocate((100,), "float32"), alloc.allocate((10,), "float32")
    alloc.release(big)
    alloc.release(small)
    again = alloc.allocate((8,), "float32")
    assert np.shares_memory(again, small) and not np.shares_memory(again, big)
    assert alloc.nbytes == 110 * 4  # nothing new was allocated
    larger = alloc.allocate((50,), "float64")  # 400 bytes: fits in the freed 400-byte block
    assert np.shares_memory(larger, big) and larger.dtype == np.float64
    alloc.allocate((1,), "float32")  # no free block left: a new one
    assert alloc.nbytes == 110 * 4 + 4


def test_allocator_release_of_a_view_frees_its_whole_block_once():
    alloc = Allocator(reuse=True)
    a = alloc.allocate((6, 4), "float32")
    alloc.release(a.reshape(24)[:12])
    alloc.release(a)
    assert len(alloc.free) == 1


def test_allocator_zero_fills_on_request():
    alloc = Allocator(reuse=True)
    a = alloc.allocate((5,), "float32")
    a[:] = 7
    alloc.release(a)
    assert np.all(alloc.allocate((5,), "float32", zero=True) == 0)


# ----- arena ------------------------------------------------------------------------------------
def test_pack_makes_the_trainable_weights_one_contiguous_run_of_views():
    w, b, stat = variable((3, 2), 1.0, "w"), variable((2,), 2.0, "b"), variable((2,), 3.0, "moving")
    params = pack([w, b], [stat], "float32")
    assert params.shape == (8,) and params.tolist() == [1.0] * 6 + [2.0] * 2
    params[:] = np.arange(8)
    assert w.value.tolist() == [[0, 1], [2, 3], [4, 5]] and b.value.tolist() == [6, 7]
    assert stat.arena is w.arena and stat.value.tolist() == [3.0, 3.0]  # after the trainable run
    assert (w.version, b.version) == (1, 1)
    assert contiguous_run([w, b]) == (w.arena, 0, 8)


def test_pack_leaves_weights_that_already_form_the_run_in_place():
    w, b = variable((2, 2), name="w"), variable((2,), name="b")
    first = pack([w, b], [], "float32")
    again = pack([w, b], [], "float32")
    assert np.shares_memory(first, again) and (w.version, b.version) == (1, 1)
    pack([b], [], "float32")  # a sub-run stays put too
    assert b.version == 1
    pack([b, w], [], "float32")  # another order does not exist yet: the weights move
    assert (w.version, b.version) == (2, 2) and contiguous_run([b, w]) is not None


def test_pack_moves_weights_to_an_arena_of_another_dtype():
    w = variable((2, 2))
    pack([w], [], "float32")
    params = pack([w], [], "float64")
    assert params.dtype == np.float64 and w.value.dtype == np.float64 and w.version == 2


def test_gradient_views_follow_the_arena_layout():
    w, b = variable((3, 2), name="w"), variable((2,), name="b")
    grads = np.arange(8, dtype="float32")
    gw, gb = gradient_views([w, b], grads)
    assert gw.shape == (3, 2) and gb.tolist() == [6, 7] and np.shares_memory(gw, grads)


# ----- the plan cache -----------------------------------------------------------------------------
def test_plan_cache_repacks_and_drops_plans_when_a_weight_moves():
    w, b = variable((2, 2), name="w"), variable((2,), name="b")
    cache = PlanCache()
    arena = cache.arena([w, b], [], "float32")
    assert cache.arena([w, b], [], "float32") is arena  # not stale: the same arena
    assert arena.segments == [(0, 4), (4, 6)] and arena.grads.shape == (6,)
    plan = Plan("predict", 2, np.float32)
    plan.snapshot = [(w, w.version)]
    cache.put(("predict", 2), plan)
    assert cache.get(("predict", 2)) is plan and len(cache) == 1
    pack([b, w], [], "float32")  # someone else moved the weights (a shared layer)
    assert cache.get(("predict", 2)) is None  # a plan bound to the old buffers is never served
    fresh = cache.arena([w, b], [], "float32")
    assert fresh is not arena and len(cache) == 0 and contiguous_run([w, b]) is not None
    cache.clear()
    assert cache.current_arena() is None


# ----- compiled plans -------------------------------------------------------------------------------
def _mlp(width=64, depth=6):
    fw.utils.set_random_seed(0)
    model = fw.Sequential([fw.Input((width,))] + [layers.Dense(width, activation="relu") for _ in range(depth)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_predict_plans_reuse_buffers_by_liveness_and_train_plans_keep_them():
    model = _mlp()
    batch, width, depth = 32, 64, 6
    one = batch * width * 4
    train, predict = model.plan("train", batch), model.plan("predict", batch)
    # predict: the input, the output and at most two activations alive at a time
    assert predict.nbytes <= 4 * one
    # train: every activation is kept for backward (input + 6 outputs + 6 pre-activations at least)
    assert train.nbytes >= (1 + depth) * one
    assert not any(np.shares_memory(a, b) for a, b in [(predict.inputs[0], predict.outputs[0])])


def test_a_plan_declares_row_views_of_its_buffers():
    model = fw.Sequential([fw.Input((2, 3)), layers.Flatten(), layers.Dense(4)])
    model.compile(optimizer="sgd", loss="mse")
    plan = model.plan("train", 5)
    assert [v.shape for v in plan.input_rows] == [(5, 6)] and np.shares_memory(plan.input_rows[0], plan.inputs[0])
    assert [v.shape for v in plan.target_rows] == [(5, 4)]
    assert [v.shape for v in plan.weight_rows] == [(5, 1)]


def test_compile_plan_takes_any_object_with_a_flat_graph():
    model = _mlp(width=8, depth=2)
    calls = []

    class Recorder:
        def flat_graph(self, input_shapes=None, training=False):
            calls.append(input_shapes)
            return model.flat_graph(input_shapes, training)

    plan = compile_plan(Recorder(), "predict", 3, np.float32)
    assert calls == [None] and plan.outputs[0].shape == (3, 8)
    with pytest.raises(ValueError, match="Unknown plan mode 'fit'; valid choices: train, eval, predict"):
        compile_plan(Recorder(), "fit", 3, np.float32)


def test_plan_cache_serves_one_plan_per_key():
    model = _mlp(width=8, depth=1)
    assert model.plan("predict", 4) is model.plan("predict", 4)
    assert model.plan("predict", 4) is not model.plan("predict", 5)
    assert model.plan("predict", 4, training=True) is not model.plan("predict", 4)
    assert len(model.plan_cache) == 3


# ----- shared steps -------------------------------------------------------------------------------
def test_shared_steps_and_views():
    a, b, out = np.ones((2, 3), "float32"), np.full((3, 4), 2.0, "float32"), np.zeros((2, 4), "float32")
    matmul_step(a, b, out)()
    assert np.all(out == 6)
    dst = np.zeros((2, 4), "float32")
    copy_step(out, dst)()
    assert np.all(dst == 6)
    x = np.zeros((5, 2, 3))
    assert rows2d(x).shape == (5, 6) and rows2d_last(x).shape == (10, 3)
    assert rows2d(out) is out and rows2d_last(out) is out
