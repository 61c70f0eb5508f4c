"""Team names: one canonical spelling each, and no look-alikes of an existing team.

A name is NFKC-normalised (full-width letters, ligatures and compatibility forms fold
to their plain letters), stripped of surrounding whitespace (a trailing newline too:
the pattern is matched whole with `fullmatch`, never with `$`, which also matches
before a final newline) and its inner runs of spaces collapse to one. A new name is
refused when its *skeleton* equals an existing team's: the skeleton case-folds,
maps the usual cross-script homoglyphs (Cyrillic and Greek letters drawn like Latin
ones) and look-alike digits to one letter, and drops separators, so `red`, `Red`,
`rеd` (Cyrillic е), `r e-d` and `RED ` all collide. Names that mix scripts
(Latin with Cyrillic, ...) are refused outright, the usual shape of a spoof.
"""
from __future__ import annotations

import re
import unicodedata

PATTERN = re.compile(r"[^\W_][\w .@+-]{0,63}")
# Cyrillic and Greek letters drawn like Latin ones (after case folding), and look-alike digits
HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "l", "ї": "l", "ј": "j", "к": "k", "м": "m",
    "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "l", "κ": "k", "μ": "u", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ζ": "z", "σ": "o", "ϲ": "c",
    "0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s", "@": "a",
})
SEPARATORS = re.compile(r"[\s._+\-]+")


def normalise(name: str) -> str:
    """The canonical spelling of a team name (NFKC, stripped, single inner spaces)."""
    return " ".join(unicodedata.normalize("NFKC", name or "").split())


def skeleton(name: str) -> str:
    """What a name looks like: names with the same skeleton are confusable."""
    folded = unicodedata.normalize("NFKD", normalise(name).casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return SEPARATORS.sub("", folded.translate(HOMOGLYPHS))


def scripts(name: str) -> set[str]:
    """The scripts of a name's letters (LATIN, CYRILLIC, GREEK, ...)."""
    out = set()
    for c in name:
        if c.isalpha():
            out.add(unicodedata.name(c, "UNKNOWN").split(" ")[0])
    return out


def check_new_name(name: str, existing: list[str], error: type[Exception]) -> str:
    """The canonical form of `name`, or `error` saying why it cannot be a new team's name."""
    canon = normalise(name)
    if not PATTERN.fullmatch(canon):
        raise error("A team name is 1-64 letters, digits, spaces or . _ @ + - and starts with a letter or digit")
    mixed = scripts(canon)
    if len(mixed) > 1:
        raise error(f"The team name '{canon}' mixes scripts ({', '.join(sorted(mixed)).lower()}); "
                    "use letters of one script so that it cannot pass for another team's name")
    for other in existing:
        if other == canon:
            raise error(f"A team named '{canon}' already exists; use `sonobench teams rotate {canon}` for a new token")
        if skeleton(other) == skeleton(canon):
            raise error(f"The team name '{canon}' looks like the existing team '{other}'; choose a name that "
                        "differs in more than case, spacing, punctuation or look-alike letters")
    return canon
