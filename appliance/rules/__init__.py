"""Rules: what an incoming text means for the accounts of its access number.

``normalise`` folds text for comparison; ``keywords`` reserves keywords and routes a message to one.
Both are pure (no database): the caller loads an access number's keywords and builds a router.
"""

from appliance.rules.keywords import (
    OPT_OUT_WORDS,
    RESERVED_WORDS,
    TYPO_MIN_LETTERS,
    AccessNumberKind,
    Keyword,
    KeywordConflict,
    KeywordMode,
    KeywordRouter,
    Reason,
    RoutingDecision,
    is_opt_out,
    keywords_opted_out_by,
    reserve,
)
from appliance.rules.normalise import normalise, words

__all__ = [
    "AccessNumberKind", "Keyword", "KeywordConflict", "KeywordMode", "KeywordRouter", "OPT_OUT_WORDS",
    "RESERVED_WORDS", "Reason", "RoutingDecision", "TYPO_MIN_LETTERS", "is_opt_out", "keywords_opted_out_by",
    "normalise", "reserve", "words",
]
