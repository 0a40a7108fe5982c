"""User code for run configs: the modules a config's ``plugins:`` list (or ``framework train
--import``) names, imported before the config is validated, so the classes they register with
``framework.utils.register_serializable`` (layers, losses, metrics, callbacks, ...) can be named
in the config.

Only module names are accepted (``mypackage.layers``: dotted Python identifiers), never file
paths; a module is found as Python finds it (installed, or its folder on ``PYTHONPATH``).
Importing runs the module's code: a config naming plugins runs that code, as ``--import`` does.
Loading a model file never imports anything (``framework.saving``).
"""
import importlib
import re

from framework.runs.messages import describe

MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def name_problem(name):
    """Why ``name`` is not a module name, or None."""
    if not isinstance(name, str):
        return f"a plugin is a module name such as mypackage.layers, received {describe(name)}"
    if "/" in name or "\\" in name or name.endswith(".py") or name.startswith("~"):
        return (f"{name!r} is a file path; give the module's dotted name (e.g. mypackage.layers) and make it "
                "importable: install its package, or put its folder on PYTHONPATH")
    if not MODULE_NAME.fullmatch(name):
        return f"{name!r} is not a module name: dotted Python identifiers such as mypackage.layers"
    return None


def import_problem(name):
    """Import the module ``name``; why that failed (one line), or None."""
    problem = name_problem(name)
    if problem is not None:
        return problem
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            return (f"cannot import {name!r}: no module named {e.name!r} (install its package, or put its folder "
                    "on PYTHONPATH)")
        return f"cannot import {name!r}: {_one_line(e)}"
    except Exception as e:  # the module's own code failed: a SyntaxError, an exception while importing
        return f"cannot import {name!r}: {_one_line(e)}"
    return None


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def import_config_plugins(data, report):
    """Import the modules of ``data['plugins']`` (a config as plain data); each problem goes to
    ``report(path, message)`` at its entry. Returns the module names (a list)."""
    plugins = data.get("plugins") if isinstance(data, dict) else None
    if plugins is None:
        return []
    if not isinstance(plugins, list):
        report(("plugins",), f"plugins is a list of module names such as [mypackage.layers], received "
                             f"{describe(plugins)}")
        return []
    for i, name in enumerate(plugins):
        problem = import_problem(name)
        if problem is not None:
            report(("plugins", i), f"plugins: {problem}")
    return [name for name in plugins if isinstance(name, str)]
