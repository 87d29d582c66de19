"""sizer: hardware sizing advisor and deployment planner for running LLMs locally."""

__version__ = "0.1.0"
