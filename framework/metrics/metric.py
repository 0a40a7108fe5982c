"""The base class of streaming metrics, and the registry of metric classes."""
import numpy as np

from framework import backend, initializers
from framework.config.registry import Registry
from framework.variables import Variable


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
        self._state_variables = []

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (Keras's ``Metric.add_variable``): ``update_state`` changes it with
        ``assign`` / ``assign_add``, ``reset_state`` sets it back to its initial value.

        Args:
            shape: the variable's shape (``()`` for a scalar).
            initializer: an initializer name or object ('zeros').
            dtype: its dtype; the metric's, else floatx().
            aggregation: kept for Keras compatibility ('sum', 'mean', ...).
            name: its name ('variable' when omitted).
        """
        dtype = backend.standardize_dtype(dtype or self.dtype)
        value = np.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        name = name or "variable"
        variable = Variable(value, name, f"{self.name}/{name}", trainable=False)
        variable.initial_value = value.copy()
        self.__dict__.setdefault("_state_variables", []).append(variable)
        return variable

    @property
    def variables(self):
        """The state variables made by ``add_variable``."""
        return list(self.__dict__.get("_state_variables", []))

    def state_arrays(self):
        """The arrays holding the running state, changed in place by updates: every built-in state is a
        sum (totals, counts, confusion counts), so data-parallel training adds them across processes."""
        own = self.__dict__.get("_state")
        return ([own] if isinstance(own, np.ndarray) else []) + [v.value for v in self.variables]

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"Metric {self.name!r} ({type(self).__name__}) gives no update_state()")

    def result(self):
        raise NotImplementedError(f"Metric {self.name!r} ({type(self).__name__}) gives no result()")

    def reset_state(self):
        """Every state variable back to its initial value (a metric with other state overrides this)."""
        variables = self.variables
        if not variables:
            raise NotImplementedError(f"Metric {self.name!r} ({type(self).__name__}) gives no reset_state()")
        for variable in variables:
            variable.assign(variable.initial_value)

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
