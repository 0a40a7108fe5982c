"""The base class of streaming metrics, and the registry of metric classes."""
from framework.config.registry import Registry


class Metric:
    """Base class of streaming metrics.

    Args:
        name: name of the metric instance (the key in training logs).
        dtype: kept for Keras compatibility and config; state is float64. Threshold
            metrics compare predictions in float32 unless it is 'float64' (Keras computes
            in the metric's dtype, floatx by default).
    """

    _direction = None  # 'up' / 'down': whether larger values are better (Keras's Metric._direction)

    def __init__(self, name=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.dtype = dtype

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Update the state with one batch and return the result so far (as Keras 3)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def bind(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"Metric {self.name!r} ({type(self).__name__}) has no plan implementation")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


REGISTRY = Registry("metric", base=Metric)
register = REGISTRY.register
