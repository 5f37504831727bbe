"""Old import names of modules and names that moved, kept working with a DeprecationWarning.

`import squeeze.ensemble` (and `from squeeze import ensemble`) give the module at its new place,
squeeze.evaluation.ensemble, the same object, so patching one patches the other; squeeze/__init__.py installs
the finder. A name that moved out of a module (`squeeze.recipes.PRESETS`, now in squeeze.presets) is found by
that module's `__getattr__ = forwarder(__name__)`. Both tables are data: the old names import nothing at
startup. Exercised by tests/test_layers.py.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {  # old name -> new name (December 2026: the loose top-level modules grouped into packages)
    "squeeze.ensemble": "squeeze.evaluation.ensemble",
    "squeeze.evaluate": "squeeze.evaluation.loss",
    "squeeze.eval_tasks": "squeeze.evaluation.tasks",
    "squeeze.hf": "squeeze.interop.hf",
    "squeeze.export": "squeeze.interop.export",
    "squeeze.perf": "squeeze.device.perf",
    "squeeze.precision": "squeeze.device.precision",
}


NAMES = {  # (old module, name) -> (new module, name)
    ("squeeze.recipes", "PRESETS"): ("squeeze.presets", "PRESETS"),
    ("squeeze.recipes", "Preset"): ("squeeze.presets", "Preset"),
    ("squeeze.recipes", "preset"): ("squeeze.presets", "preset_config"),
    ("squeeze.recipes", "PERPLEXITY_REFERENCE"): ("squeeze.recipes", "Recipe.PERPLEXITY_REFERENCE"),
}


def forwarder(module: str):
    """A module `__getattr__` that finds the names NAMES moved out of `module`, with a DeprecationWarning."""
    def __getattr__(name: str):
        if (module, name) not in NAMES:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, new_name = NAMES[module, name]
        warnings.warn(f"{module}.{name} moved to {new_module}.{new_name}", DeprecationWarning, stacklevel=2)
        value = importlib.import_module(new_module)
        for part in new_name.split("."):
            value = getattr(value, part)
        return value
    return __getattr__


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.specs = {}  # new name -> the module's own spec, which the import system overwrites with the alias's

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; import it from there", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(MOVED[spec.name])
        self.specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module) -> None:
        """The module is the new one, already executed: only its own spec is put back."""
        module.__spec__ = self.specs[module.__name__]


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
