"""sizer: hardware sizing advisor and deployment planner for running LLMs locally."""

__version__ = "0.1.0"


def estimate(*args, **kwargs):
    """Estimate memory (and speed, with hardware) of one model on one engine; see sizer.estimate.api.estimate."""
    from sizer.estimate.api import estimate as _estimate

    return _estimate(*args, **kwargs)
