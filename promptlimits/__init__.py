"""promptlimits: a simulator for the limits of prompt tuning and fast attention.

Public, stable names: :func:`exact_attention`,
:func:`poly_attention`. The rest is documented in each module.
"""

__version__ = "0.1.0"  # set before the imports: promptlimits.model records it with saved weights

from .attention import exact_attention, exact_attention_backward  # noqa: E402
from .model import InducedNorm, LossInfo, PromptedModel  # noqa: E402
from .poly_attention import PolyPlan, make_plan, poly_attention, poly_attention_backward  # noqa: E402

__all__ = [
    "exact_attention",
    "exact_attention_backward",
    "poly_attention",
    "poly_attention_backward",
    "make_plan",
    "PolyPlan",
    "PromptedModel",
    "LossInfo",
    "InducedNorm",
]
