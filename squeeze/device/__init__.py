"""What the machine does with a run: the float type it trains in (precision.py) and the FLOP/s, peak and MFU it
reaches, with the CPU's flags (perf.py)."""
