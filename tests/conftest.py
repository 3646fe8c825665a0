"""Shared pytest setup: a headless plotting backend and a CI-sized hypothesis profile."""

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# Loop implementations are slow by design, so keep examples few and drop the deadline.
settings.register_profile(
    "book",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("book")
