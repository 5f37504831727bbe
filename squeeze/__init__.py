"""squeeze: train the best language model a fixed, small text budget allows, and measure what the compute bought."""
from squeeze import _moved

__version__ = "0.1.0"

_moved.install()  # old names of moved modules (squeeze.ensemble, ...) keep working, with a DeprecationWarning
