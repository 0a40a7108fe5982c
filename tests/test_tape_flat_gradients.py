"""The tape hands back a model's weight gradients as views of one new flat buffer laid out like the
parameter arena, and optimizer.apply updates from such a buffer where it is: the same weights, bit for
bit, as from separate arrays; gradients the caller keeps are never written by a later step."""
import gc

import numpy as np
import pytest

import framework as fw
from framework import layers
from framework.plan import handed_gradients


def _mlp(seed=0, units=(5, 3)):
    fw.utils.set_random_seed(seed)
    inputs = fw.Input((4,))
    h = layers.Dense(units[0], activation="tanh")(inputs)
    return fw.Model(inputs, layers.Dense(units[1])(h))


def _batch(seed, n=8):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype("float32"), rng.standard_normal((n, 3)).astype("float32")


def _tape_gradients(model, x, y):
    with fw.GradientTape() as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    return tape.gradient(loss, model.trainable_variables)


def _flat_views(arrays):
    """``arrays`` copied back to back into one new flat buffer; views of it, one per array."""
    flat = np.concatenate([np.ravel(a) for a in arrays])
    views, offset = [], 0
    for a in arrays:
        views.append(flat[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    return flat, views


def test_tape_gradients_are_views_of_one_new_flat_buffer_laid_out_like_the_arena():
    model = _mlp()
    model.compile(fw.optimizers.Adam(), "mse")
    grads = _tape_gradients(model, *_batch(1))
    base = grads[0].base
    assert base is not None and base.ndim == 1 and all(g.base is base for g in grads)
    assert base.size == sum(v.value.size for v in model.trainable_variables)
    np.testing.assert_array_equal(base, np.concatenate([g.ravel() for g in grads]))  # back to back, in order
    arena = model.parameter_arena()
    assert not np.shares_memory(base, arena.grads) and not np.shares_memory(base, arena.params)


def test_gradients_the_caller_keeps_are_not_written_by_later_steps():
    model = _mlp()
    model.compile(fw.optimizers.Adam(0.01), "mse")
    first = _tape_gradients(model, *_batch(1))
    kept = [g.copy() for g in first]
    model.optimizer.apply(first, model.trainable_variables)
    run = model.optimizer.__dict__["_applied_run"]
    assert run.gathered is None and not run.grads.any()  # the tape's buffer read in place
    second = _tape_gradients(model, *_batch(2))
    model.optimizer.apply(second, model.trainable_variables)
    for a, b, c in zip(first, kept, second):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)  # another batch and other weights: other gradients
        assert not np.shares_memory(a, c)


def test_a_persistent_tape_gives_new_buffers_at_each_call():
    model = _mlp()
    model.compile("sgd", "mse")
    x, y = _batch(1)
    with fw.GradientTape(persistent=True) as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    first = tape.gradient(loss, model.trainable_variables)
    expected = [g.copy() for g in first]
    first[0][...] = 7.0  # the caller's to change
    second = tape.gradient(loss, model.trainable_variables)
    for got, want in zip(second, expected):
        np.testing.assert_array_equal(got, want)
    assert not np.shares_memory(first[0], second[0])


@pytest.mark.parametrize("make", [
    lambda: fw.optimizers.Adam(0.01),
    lambda: fw.optimizers.Adam(0.01, clipnorm=0.05),
    lambda: fw.optimizers.AdamW(0.01, global_clipnorm=0.1),
    lambda: fw.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2),
    lambda: fw.optimizers.RMSprop(0.01, clipvalue=0.02, use_ema=True),
], ids=["adam", "adam-clipnorm", "adamw-global-clipnorm", "sgd-accumulating", "rmsprop-clipvalue-ema"])
def test_apply_from_one_flat_buffer_equals_apply_from_separate_arrays_bitwise(make):
    from_flat, from_arrays = _mlp(3), _mlp(3)
    opt_flat, opt_arrays = make(), make()
    for model, optimizer in ((from_flat, opt_flat), (from_arrays, opt_arrays)):
        model.compile(optimizer, "mse")
        model.parameter_arena()  # the weights packed: the update runs on the arena's run, in place
    rng = np.random.default_rng(4)
    for _ in range(4):
        grads = [rng.standard_normal(v.shape).astype("float32") for v in from_flat.trainable_variables]
        flat, views = _flat_views(grads)
        opt_flat.apply(views, from_flat.trainable_variables)
        opt_arrays.apply([g.copy() for g in grads], from_arrays.trainable_variables)
        run = opt_flat.__dict__["_applied_run"]
        assert run.gathered is None and not run.grads.any()  # the arena's run, read where it was: nothing copied
        np.testing.assert_array_equal(flat, np.concatenate([g.ravel() for g in grads]))  # only read
    for a, b in zip(from_flat.get_weights(), from_arrays.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_gathered_run_of_two_models_updates_from_a_flat_buffer_too():
    pairs = [(_mlp(5), _mlp(6, (2, 3))), (_mlp(5), _mlp(6, (2, 3)))]
    optimizers = [fw.optimizers.Adam(0.01), fw.optimizers.Adam(0.01)]
    rng = np.random.default_rng(7)
    for _ in range(3):
        variables = [a.trainable_variables + b.trainable_variables for a, b in pairs]
        grads = [rng.standard_normal(v.shape).astype("float32") for v in variables[0]]
        _, views = _flat_views(grads)
        optimizers[0].apply(views, variables[0])
        optimizers[1].apply(grads, variables[1])
        assert optimizers[0].__dict__["_applied_run"].gathered is not None  # the two models' private run
    for one, other in zip(pairs[0], pairs[1]):
        for a, b in zip(one.get_weights(), other.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_gradients_not_back_to_back_in_the_run_layout_are_copied():
    """Views of one buffer in another order, shifted, or of another dtype: the copy path, same result."""
    rng = np.random.default_rng(8)
    reference = _mlp(9)
    variables = reference.trainable_variables
    grads = [rng.standard_normal(v.shape).astype("float32") for v in variables]
    SGD = fw.optimizers.SGD
    SGD(0.1).apply(grads, variables)
    expected = reference.get_weights()

    reversed_model = _mlp(9)
    _, views = _flat_views(grads[::-1])
    SGD(0.1).apply(views[::-1], reversed_model.trainable_variables)

    shifted_model = _mlp(9)
    padded = np.concatenate([np.zeros(1, "float32")] + [g.ravel() for g in grads])
    views, offset = [], 1
    for g in grads:
        views.append(padded[offset:offset + g.size].reshape(g.shape))
        offset += g.size
    optimizer = SGD(0.1)
    optimizer.apply(views, shifted_model.trainable_variables)  # back to back from offset 1: read in place
    assert not optimizer.__dict__["_applied_run"].grads.any()

    float64_model = _mlp(9)
    _, views64 = _flat_views([g.astype("float64") for g in grads])
    optimizer = SGD(0.1)
    optimizer.apply(views64, float64_model.trainable_variables)
    assert optimizer.__dict__["_applied_run"].grads.any()  # another dtype: copied (cast) first
    for model in (reversed_model, shifted_model, float64_model):
        for a, b in zip(model.get_weights(), expected):
            np.testing.assert_array_equal(a, b)


def test_the_weights_themselves_as_gradients_are_copied_first():
    model = _mlp(10)
    model.compile(fw.optimizers.SGD(0.5, weight_decay=0.1), "mse")
    model.parameter_arena()
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    model.optimizer.apply([v.value for v in variables], variables)  # views of the arena: never read in place
    after = _mlp(10)
    optimizer = fw.optimizers.SGD(0.5, weight_decay=0.1)
    optimizer.apply([b.copy() for b in before], after.trainable_variables)
    for a, b in zip(model.get_weights(), after.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_kept_binding_still_checks_the_gradients_shapes():
    model = _mlp()
    optimizer = fw.optimizers.SGD(0.1)
    variables = model.trainable_variables
    optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)
    bad = [np.zeros(v.shape, "float32") for v in variables]
    bad[2] = np.zeros((3, 5), "float32")
    with pytest.raises(ValueError, match=r"gradient of shape \(3, 5\) for variable '.*' of shape \(5, 3\)"):
        optimizer.apply(bad, variables)


def test_gradients_come_back_in_the_structure_of_the_sources():
    model = _mlp()
    model.compile("sgd", "mse")
    x, y = _batch(1)
    kernel, bias = model.trainable_variables[:2]
    with fw.GradientTape(persistent=True) as tape:
        loss = model.compute_loss(y=y, y_pred=model(x, training=True))
    as_list = tape.gradient(loss, [kernel, bias])
    as_tuple = tape.gradient(loss, (kernel, bias))
    as_dict = tape.gradient(loss, {"kernel": kernel, "nested": [bias, {"again": kernel}]})
    assert isinstance(as_list, list) and isinstance(as_tuple, tuple)
    assert list(as_dict) == ["kernel", "nested"] and isinstance(as_dict["nested"], list)
    for got in (as_tuple[0], as_dict["kernel"], as_dict["nested"][1]["again"]):
        np.testing.assert_array_equal(got, as_list[0])
    np.testing.assert_array_equal(as_dict["nested"][0], as_list[1])
    assert as_list[0].shape == kernel.shape and as_list[1].shape == bias.shape


def test_handed_gradients_remember_the_offsets_of_their_own_views_only():
    flat = np.arange(10.0)
    views = handed_gradients.views_of(flat, [(0, 6, (2, 3)), (6, 10, (4,))])
    assert [handed_gradients.offset_of(v) for v in views] == [0, 6]
    assert views[1].base is flat and views[0].shape == (2, 3)
    assert handed_gradients.offset_of(flat[6:10]) is None  # the same memory, another object: not believed
    assert handed_gradients.offset_of(np.zeros(4)) is None
    with pytest.raises(ValueError, match="expected a 1-D array that owns its memory, received a 1-D view"):
        handed_gradients.views_of(flat[2:], [(0, 2, (2,))])
    before = len(handed_gradients._offsets)
    del views
    gc.collect()
    assert len(handed_gradients._offsets) == before - 2  # an entry goes with its view


def test_tape_gradients_in_another_order_than_the_run_are_copied_and_still_right():
    fitted, reordered = _mlp(11), _mlp(11)
    for model in (fitted, reordered):
        model.compile(fw.optimizers.Adam(0.01), "mse")
    x, y = _batch(3)
    for model, order in ((fitted, slice(None)), (reordered, slice(None, None, -1))):
        variables = model.trainable_variables[order]
        with fw.GradientTape() as tape:
            loss = model.compute_loss(y=y, y_pred=model(x, training=True))
        model.optimizer.apply(tape.gradient(loss, variables), variables)
    assert reordered.optimizer.__dict__["_applied_run"].grads.any()  # not the run's layout: copied
    for a, b in zip(fitted.get_weights(), reordered.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_dropped_gradient_buffer_is_reused_and_a_kept_view_keeps_its_buffer():
    model = _mlp()
    model.compile("sgd", "mse")
    first = _tape_gradients(model, *_batch(1))
    address = first[0].base.__array_interface__["data"][0]
    del first  # the step dropped its gradients: the next one writes the same memory
    second = _tape_gradients(model, *_batch(2))
    assert second[0].base.__array_interface__["data"][0] == address
    fresh = _mlp()
    fresh.compile("sgd", "mse")
    for got, want in zip(second, _tape_gradients(fresh, *_batch(2))):
        np.testing.assert_array_equal(got, want)
    kept = second[1]  # one view kept: its buffer is the caller's
    value = kept.copy()
    del second
    third = _tape_gradients(model, *_batch(3))
    assert not np.shares_memory(third[1], kept)
    np.testing.assert_array_equal(kept, value)


def _models_of_every_kind():
    """Dense, shared, convolutional, normalized, recurrent, attention and embedding layers."""
    fw.utils.set_random_seed(3)
    dense_in = fw.Input((4,))
    shared = layers.Dense(4, activation="tanh")
    dense = fw.Model(dense_in, layers.Dense(3)(shared(shared(dense_in))))
    image_in = fw.Input((8, 8, 2))
    h = layers.BatchNormalization()(layers.Conv2D(3, 3, activation="relu")(image_in))
    conv = fw.Model(image_in, layers.Dense(3)(layers.Flatten()(layers.MaxPooling2D()(h))))
    words = fw.Input((5,))
    seq = layers.Embedding(11, 4)(words)
    seq = layers.MultiHeadAttention(2, 2)(seq, seq)
    sequence = fw.Model(words, layers.Dense(3)(layers.LSTM(4)(seq)))
    rng = np.random.default_rng(4)
    return [(dense, rng.standard_normal((6, 4))), (conv, rng.standard_normal((6, 8, 8, 2))),
            (sequence, rng.integers(0, 11, (6, 5)).astype("float64"))]


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_lent_and_copied_gradients_are_the_same_bits(kind):
    """The plan's own run, lent to the caller, and the arena's run, copied for a caller that still holds the
    lent one, come from two backwards emitted from one plan: the same values, bit for bit, for every layer."""
    model, x = _models_of_every_kind()[kind]
    fw.backend.set_floatx("float64")
    try:
        model.compile("sgd", "mse")
        y = np.random.default_rng(5).standard_normal((len(x), 3))
        lent = _tape_gradients(model, x, y)
        copied = _tape_gradients(model, x, y)  # ``lent`` is held: this one is copied from the arena's run
        arena = model.parameter_arena()
        assert not np.shares_memory(lent[0], arena.grads) and not np.shares_memory(copied[0], lent[0])
        plan = next(p for p in model.plan_cache.plans() if p.mode == "train")
        assert plan.second_backward is not None and np.shares_memory(lent[0], plan.own_grads)  # lent, not copied
        for a, b in zip(lent, copied):
            np.testing.assert_array_equal(a, b)
        lent[0][...] = 5.0  # the caller's to write: the next backward writes every value again
        del lent, copied
        again = _tape_gradients(model, x, y)
        fresh = _tape_gradients(model, x, y)
        for a, b in zip(again, fresh):
            np.testing.assert_array_equal(a, b)
    finally:
        fw.backend.set_floatx("float32")
