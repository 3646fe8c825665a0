"""Maintainer's tools: atomic file writes and the BLAS/runtime helpers."""
