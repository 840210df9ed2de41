"""Data preparation for tranx: readers for the shared NL-to-code data sets (see ``preprocess.datasets``)."""
