"""Numba kernels: plain functions over arrays, no framework objects."""
