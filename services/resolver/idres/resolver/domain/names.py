"""Name and date comparisons that decide whether two sets of attributes can be one person."""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache

from rapidfuzz.distance import JaroWinkler

# Typos stay above this; different names (John/Joan 0.88 is the edge) mostly fall below.
SIMILAR_NAME = 0.9

_NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "william": ("bill", "billy", "will", "willie", "liam"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "margaret": ("maggie", "meg", "peggy", "margo"),
    "james": ("jim", "jimmy", "jamie"),
    "katherine": ("kate", "kathy", "katie", "kat", "kitty"),
    "catherine": ("cath", "cathy", "kate", "katie", "cat"),
    "richard": ("rick", "ricky", "dick", "rich", "richie"),
    "thomas": ("tom", "tommy"),
    "michael": ("mike", "mick", "mickey"),
    "christopher": ("chris", "kit"),
    "jennifer": ("jen", "jenny"),
    "alexander": ("alex", "sandy", "xander"),
    "alexandra": ("alex", "sandra", "lexi"),
    "anthony": ("tony", "ant"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "joseph": ("joe", "joey"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy"),
    "benjamin": ("ben", "benny"),
    "matthew": ("matt",),
    "nicholas": ("nick", "nicky"),
    "jonathan": ("jon", "jonny"),
    "john": ("jack", "johnny"),
    "stephen": ("steve", "stevie"),
    "steven": ("steve", "stevie"),
    "victoria": ("vicky", "tori"),
    "rebecca": ("becky", "becca"),
    "susan": ("sue", "susie"),
    "patricia": ("pat", "patty", "trish"),
    "deborah": ("debbie", "deb"),
    "charlotte": ("charlie", "lottie"),
    "charles": ("charlie", "chuck"),
    "henry": ("harry", "hal"),
    "andrew": ("andy", "drew"),
    "peter": ("pete",),
    "timothy": ("tim", "timmy"),
    "philip": ("phil",),
    "gregory": ("greg",),
    "kenneth": ("ken", "kenny"),
    "ronald": ("ron", "ronnie"),
    "donald": ("don", "donny"),
    "frederick": ("fred", "freddie"),
    "abigail": ("abby", "abi"),
    "eleanor": ("ellie", "nell"),
    "jessica": ("jess", "jessie"),
    "natalie": ("nat",),
    "olivia": ("liv", "livvy"),
    "sophia": ("sophie",),
    "amelia": ("millie", "amy"),
    "isabella": ("bella", "izzy"),
    "josephine": ("jo", "josie"),
    "joanne": ("jo",),
    "theodore": ("theo", "ted"),
    "oliver": ("ollie",),
    "harriet": ("hattie",),
    "georgina": ("george", "georgie"),
    "lawrence": ("larry",),
    "terence": ("terry",),
}


def _build_groups() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for formal, short in _NICKNAMES.items():
        for name in (formal, *short):
            groups.setdefault(name, set()).update((formal, *short))
    return {name: frozenset(members) for name, members in groups.items()}


_GROUPS = _build_groups()


def _group_keys() -> dict[str, str]:
    """One key per connected set of names (alex joins alexander and alexandra), so that
    "same nickname group" is a plain equality a SQL engine evaluates the same way."""
    parent = {name: name for name in _GROUPS}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for name, members in _GROUPS.items():
        for other in members:
            a, b = root(name), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {name: root(name) for name in _GROUPS}


_GROUP_KEYS = _group_keys()


def nickname_group(name: str) -> str:
    """The nickname group of a folded given name's first word, or that word itself."""
    first = name.split(" ", 1)[0]
    return _GROUP_KEYS.get(first, first)


@lru_cache(maxsize=65536)
def fold(name: str) -> str:
    """Case, accents and punctuation do not tell people apart."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha() or ch == " ").strip()


def given_names_agree(a: str, b: str) -> bool:
    """Same name, an initial of it, a nickname of it, or a typo of it."""
    x, y = fold(a).split(" ")[0], fold(b).split(" ")[0]
    if not x or not y:
        return True
    if x == y or (len(x) == 1 and y.startswith(x)) or (len(y) == 1 and x.startswith(y)):
        return True
    if y in _GROUPS.get(x, ()):
        return True
    return len(x) > 2 and len(y) > 2 and JaroWinkler.similarity(x, y) >= SIMILAR_NAME


def surnames_agree(a: str, b: str) -> bool:
    x, y = fold(a), fold(b)
    return bool(x and y) and (x == y or JaroWinkler.similarity(x, y) >= SIMILAR_NAME)


def dobs_agree(a: date, b: date) -> bool:
    """Equal, or day and month swapped (a common keying error)."""
    return a == b or (a.year == b.year and a.month == b.day and a.day == b.month)
