"""Code in the docs runs as written: docs/adding-a-layer.md's example layer trains, passes the
float64 gradient check and round-trips through its config (in a child process, so the layer it
registers does not reach the other tests' registries)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECKS = '''
import numpy as np
from gradcheck import check_gradients, float64_mode
from helpers import assert_no_allocation

rng = np.random.default_rng(0)
assert model.layers[0].get_weights()[0].shape == (4,)
with float64_mode():
    checked = fw.Sequential([fw.Input((3, 4)), FeatureScale(scale_initializer="random_normal"),
                             fw.layers.Dense(2)])
    check_gradients(checked, [rng.standard_normal((5, 3, 4))], [rng.standard_normal((5, 3, 2))])
assert_no_allocation(model.plan("train", 8).train_step, calls=50, held=1024, peak=4096)
rebuilt = fw.models.model_from_yaml(model.to_yaml())
rebuilt.set_weights(model.get_weights())
x = rng.standard_normal((3, 4)).astype("float32")
np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
print("checked")
'''


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_adding_a_layer_example_runs_and_passes_the_checks():
    blocks = python_blocks(ROOT / "docs" / "adding-a-layer.md")
    assert len(blocks) == 1 and "class FeatureScale(Layer)" in blocks[0]
    result = subprocess.run([sys.executable, "-c", blocks[0] + CHECKS], cwd=ROOT / "tests",
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("checked")


def test_custom_layers_guide_code_runs_as_written():
    blocks = python_blocks(ROOT / "docs" / "custom-layers.md")
    checks = '''
assert len(block.weights) == 4
x = np.random.default_rng(0).random((16, 10, 8)).astype("float32")
history = model.fit(x, x[:, :1, 0], epochs=2, verbose=0)
assert np.isfinite(history.history["loss"][-1])
print("checked")
'''
    result = subprocess.run([sys.executable, "-c", "\n".join(blocks) + checks], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("checked")


def test_custom_training_guide_code_runs_as_written():
    blocks = python_blocks(ROOT / "docs" / "custom-training.md")
    checks = '''
assert history.history["loss"][-1] < history.history["loss"][0]
assert set(gan_history.history) == {"d_loss", "g_loss"}
assert float(loss_value) < 0.5
assert len(gp_grads) == 4 and all(g is not None for g in gp_grads[:1])
assert len(variable_grads) == 4 and float(value) > 0 and list(slope) == [2.0, -4.0]
print("checked")
'''
    result = subprocess.run([sys.executable, "-c", "\n".join(blocks) + checks], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("checked")
