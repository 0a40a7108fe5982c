"""Hardening: models used from several threads, plan memory bounded over many shapes."""
import threading

import numpy as np
import pytest

import framework as fw
from framework import layers


def _model(seed=0):
    fw.utils.set_random_seed(seed)
    model = fw.Sequential([fw.Input((6,)), layers.Dense(16, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_predict_from_eight_threads_matches_single_threaded_results():
    model = _model()
    rng = np.random.default_rng(0)
    requests = [rng.standard_normal((int(n), 6)).astype("float32") for n in rng.integers(1, 70, 64)]
    expected = [model.predict(x, verbose=0, batch_size=32) for x in requests]
    mismatches, errors = [], []

    def serve(worker):
        order = np.random.default_rng(worker).permutation(len(requests))
        try:
            for repeat in range(16):
                for i in order:
                    got = model.predict(requests[i], verbose=0, batch_size=32) if repeat % 2 else model(requests[i])
                    if not np.allclose(got, expected[i], rtol=1e-5, atol=1e-6):
                        mismatches.append((worker, i))
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and not mismatches  # 8 threads x 1,024 requests


def test_distinct_predict_sizes_share_bucketed_plans_and_the_cache_stays_bounded():
    model = _model()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((999, 6)).astype("float32")
    for n in rng.integers(1, 1000, 200):
        np.testing.assert_allclose(model.predict(x[:n], verbose=0, batch_size=256),
                                   model.predict(x[:n], verbose=0, batch_size=n), rtol=1e-5, atol=1e-6)
    sizes = {key[1] for key in model.plan_cache.keys() if key[0] == "predict"}
    assert len(model.plan_cache) <= model.plan_cache.max_plans
    for n in range(1, 300):
        model(x[:n])
    assert len(model.plan_cache) <= model.plan_cache.max_plans
    assert {1, 2, 4, 8, 16, 32, 64, 128, 256} >= sizes - {n for n in sizes if n > 256} or sizes


def test_training_sizes_are_bounded_by_the_lru():
    model = _model()
    model.plan_cache.max_plans = 8
    rng = np.random.default_rng(2)
    for n in range(1, 40):
        model.train_on_batch(rng.standard_normal((n, 6)), rng.integers(0, 3, n))
    assert len(model.plan_cache) <= 8
    assert [key[1] for key in model.plan_cache.keys()][-1] == 39  # the most recent stays


MEMORY_PROBE = """
import numpy as np, framework as fw
from framework import layers
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2 ** 20
fw.utils.set_random_seed(0)
x = fw.Input((None, 4))
model = fw.Model(x, layers.Dense(8)(layers.Dense(64, activation='relu')(x)))
data = np.random.default_rng(3).standard_normal((2, 6000, 4)).astype('float32')
for length in range(1, 2001):  # 2,000 distinct shapes: the cache fills to its bound, the heap settles
    model.predict(data[:, :length], verbose=0)
before, cached_before = rss(), model.plan_cache.nbytes()
for length in range(2001, 3001):  # 1,000 more shapes never seen, each a new plan
    model.predict(data[:, :length], verbose=0)
assert len(model.plan_cache) <= model.plan_cache.max_plans
assert model.plan_cache.nbytes() <= model.plan_cache.max_bytes
# the cached plans grow with the length (a longer sequence, larger buffers): that growth is bounded and
# expected; what the process grew beyond it is what the test measures
print((rss() - before) - (model.plan_cache.nbytes() - cached_before) / 2 ** 20)
"""


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc (Linux) to read RSS")
def test_memory_stays_flat_over_three_thousand_distinct_sequence_lengths():
    """In a fresh process (RSS in the test process carries every other test's allocations)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    growth = float(out.stdout.split()[-1])
    # unbounded, each length would keep its plan: ~1.5 MB each on average here, 1.5 GB in all. Bounded, what
    # remains is the allocator's retained heap, 20-40 MB here (glibc raises its mmap threshold as blocks of
    # these sizes come and go)
    assert growth < 80


def test_a_second_fit_from_another_thread_is_refused_clearly():
    model = _model()
    x, y = np.random.rand(64, 6), np.random.randint(0, 3, 64)
    started, release, refused = threading.Event(), threading.Event(), []

    class Hold(fw.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.set()
            release.wait(10)

    worker = threading.Thread(target=lambda: model.fit(x, y, epochs=1, verbose=0, callbacks=[Hold()]))
    worker.start()
    started.wait(10)
    try:
        model.fit(x, y, epochs=1, verbose=0)
    except RuntimeError as error:
        refused.append(str(error))
    assert model.predict(x, verbose=0).shape == (64, 3)  # predict runs beside a fit
    release.set()
    worker.join()
    assert refused and "already being trained by fit() in another thread" in refused[0]
    model.fit(x, y, epochs=1, verbose=0)  # and fit works again once the first one ends


def test_evaluate_from_several_threads_gives_each_its_own_exact_result():
    import threading
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(7)
    sets = [(rng.standard_normal((2000 + 10 * i, 6)), rng.integers(0, 3, 2000 + 10 * i)) for i in range(6)]
    expected = [model.evaluate(x, y, batch_size=16, verbose=0) for x, y in sets]
    results = [[] for _ in sets]

    def run(i):
        for _ in range(5):
            results[i].append(model.evaluate(*sets[i], batch_size=16, verbose=0))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[e] * 5 for e in expected]
