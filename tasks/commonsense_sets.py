"""The eight commonsense evaluation sets: their names, in report order, and where each lives.

``HUB`` maps a set to its Hugging Face dataset id, config and evaluation split (the split that
both tasks/commonsense.py and the lm-eval adapter, tasks/lm_eval_protocols.py, score); sample
data and local directories use the same split names for their files.

    >>> from tasks.commonsense_sets import HUB, SETS
    >>> len(SETS), SETS[0], HUB["winogrande"]
    (8, 'boolq', ('allenai/winogrande', 'winogrande_xl', 'validation'))
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SETS = (
    "boolq",
    "piqa",
    "siqa",
    "hellaswag",
    "winogrande",
    "arc_easy",
    "arc_challenge",
    "openbookqa",
)
# set -> (hub id, config, evaluation split)
HUB: Mapping[str, tuple[str, str | None, str]] = MappingProxyType(
    {
        "boolq": ("google/boolq", None, "validation"),
        "piqa": ("ybisk/piqa", None, "validation"),
        "siqa": ("allenai/social_i_qa", None, "validation"),
        "hellaswag": ("Rowan/hellaswag", None, "validation"),
        "winogrande": ("allenai/winogrande", "winogrande_xl", "validation"),
        "arc_easy": ("allenai/ai2_arc", "ARC-Easy", "test"),
        "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", "test"),
        "openbookqa": ("allenai/openbookqa", "main", "test"),
    }
)


def check_set(subset: str) -> None:
    """A ValueError naming the allowed sets when ``subset`` is not one of them."""
    if subset not in HUB:
        raise ValueError(f"unknown commonsense set '{subset}'; allowed: {', '.join(SETS)}")
