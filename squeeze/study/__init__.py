"""The data-efficiency study: grids of typed points and their certificates (grid.py, certify.py), sweeps
(sweep.py), the steps of `squeeze run` (steps/), seed noise and multipliers (noise.py), the scaling fits
(fits.py), and the report (report.py, report_output.py, plots.py). `squeeze run` and `squeeze report` use it."""
