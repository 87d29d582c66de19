"""sizer: hardware sizing advisor and deployment planner for running LLMs locally."""

__version__ = "0.1.0"


from sizer import estimate  # noqa: E402  (a callable package: sizer.estimate(...))

__all__ = ["__version__", "estimate"]
