"""squeeze: train the best language model a fixed, small text budget allows, and measure what the compute bought."""

__version__ = "0.1.0"
