"""Helpers of the command line :mod:`skmatch.cli`: reading files, building models."""
