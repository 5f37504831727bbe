"""Many training runs: jobs, the executors that run them (in this process, local worker processes, Ray), the
run-directory file names and the results table read back from run directories."""
