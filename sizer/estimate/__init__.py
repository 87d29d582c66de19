"""The memory rules engine: weights, KV cache and runtime buffers of a model on an engine.

`sizer.estimate(...)` is the public entry point; because `sizer.estimate` is also this package,
the package itself is made callable (it forwards to :func:`sizer.estimate.api.estimate`), so both
`sizer.estimate("llama-3.1-8b-instruct")` and `import sizer.estimate.api` work.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from sizer.estimate.api import estimate

        return estimate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
