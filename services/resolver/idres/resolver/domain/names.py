"""Name and date comparisons that decide whether two sets of attributes can be one person."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

from rapidfuzz.distance import OSA, JaroWinkler

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
    "michael": ("mike", "mick", "mickey", "mikey"),
    "christopher": ("chris", "kit"),
    "jennifer": ("jen", "jenny", "jenn"),
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
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("pat", "paddy"),
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
    "michelle": ("shelly", "shelley", "shell"),
    "pamela": ("pam",),
    "kimberly": ("kim",),
    "christine": ("chris", "tina", "chrissy"),
    "christina": ("chris", "tina", "chrissy"),
    "nathaniel": ("nate", "nat"),
    "nathan": ("nate",),
    "zachary": ("zach", "zack"),
    "jacob": ("jake",),
    "joshua": ("josh",),
    "douglas": ("doug",),
    "raymond": ("ray",),
    "leonard": ("len", "lenny", "leo"),
    "cynthia": ("cindy",),
    "barbara": ("barb", "babs"),
    "dorothy": ("dot", "dotty", "dottie"),
    "judith": ("judy",),
    "caroline": ("carrie", "caz"),
    "carolyn": ("carrie",),
    "sandra": ("sandy",),
    "teresa": ("terri", "tess", "tessa"),
    "theresa": ("terri", "tess", "tessa"),
    "valerie": ("val",),
    "vincent": ("vince", "vinny"),
    "walter": ("walt", "wally"),
    "harold": ("harry", "hal"),
    "eugene": ("gene",),
    "angela": ("angie",),
    "melissa": ("mel", "missy"),
    "melanie": ("mel",),
    "amanda": ("mandy",),
    "allison": ("ali", "allie"),
    "alison": ("ali", "allie"),
    "danielle": ("dani",),
    "gabrielle": ("gabby",),
    "gabriel": ("gabe",),
    "nicole": ("nicky", "nikki"),
    "jeffrey": ("jeff",),
    "geoffrey": ("geoff",),
    "russell": ("russ",),
    "randall": ("randy",),
    "rodney": ("rod",),
    "gerald": ("gerry", "jerry"),
    "jacqueline": ("jackie", "jacqui"),
    "tiffany": ("tiff",),
    "frances": ("fran", "frankie"),
    "francis": ("frank", "frankie"),
    "kathleen": ("kath", "kathy", "katie"),
    "mary": ("molly", "polly", "mae"),
    "ashley": ("ash",),
    "beverly": ("bev",),
    "cameron": ("cam",),
    "clifford": ("cliff",),
    "dennis": ("denny",),
    "stuart": ("stu",),
    "stewart": ("stu",),
    "trevor": ("trev",),
    "wesley": ("wes",),
}

PLACEHOLDER_NAMES = frozenset(
    {
        "guest",
        "unknown",
        "customer",
        "cash",
        "cash customer",
        "valued customer",
        "anon",
        "anonymous",
        "test",
        "none",
        "na",
        "n a",
        "no name",
        "not given",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "sir",
        "madam",
        "xxx",
    }
)
"""What tills and agents type when they have no name: never evidence of a person."""


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


def given_names_may_meet(a: str, b: str) -> bool:
    """Whether two given names could be one, typed or shortened: the bar a veto must clear.
    Besides `given_names_agree`: one letter wrong, lost, added or swapped ("Jenifer"), a prefix
    ("Mat" for Matthew), an initial or a typo of a nickname ("R." or "Robrt" for Bob)."""
    if given_names_agree(a, b):
        return True
    x, y = fold(a).split(" ")[0], fold(b).split(" ")[0]
    short, long = sorted((x, y), key=len)
    if len(short) >= 4 and OSA.distance(x, y) <= 1:
        return True
    if len(short) >= 3 and long.startswith(short):
        return True
    return _nickname_meets(x, y) or _nickname_meets(y, x)


def _nickname_meets(x: str, y: str) -> bool:
    """`x` is an initial or a typo of a name in `y`'s nickname group."""
    for name in _GROUPS.get(y, ()):
        if len(x) == 1 and name.startswith(x):
            return True
        if len(x) > 2 and JaroWinkler.similarity(x, name) >= SIMILAR_NAME:
            return True
    return False


def display_name_holds(text: str, given: str, surname: str) -> bool:
    """Whether one field holds a whole name run together: "annawright", "TheJoeBloggs",
    "jwatson" (an initial and the surname)."""
    x = fold(text).replace(" ", "")
    given, surname = fold(given).split(" ")[0], fold(surname).replace(" ", "")
    if len(x) < 6:
        return False
    if len(given) >= 3 and given in x and x != given:
        return True
    if len(surname) >= 3 and x.endswith(surname) and len(x) > len(surname):
        return not given or x[: -len(surname)].endswith(given[:1])
    return False


def surnames_agree(a: str, b: str) -> bool:
    x, y = fold(a), fold(b)
    return bool(x and y) and (x == y or JaroWinkler.similarity(x, y) >= SIMILAR_NAME)


def dobs_agree(a: date, b: date) -> bool:
    """Equal, day and month swapped, or one of year, month and day mistyped: a keying error
    is no proof of another person, while a sibling or a parent differs in more than one."""
    if a == b or (a.year == b.year and a.month == b.day and a.day == b.month):
        return True
    return (a.year == b.year) + (a.month == b.month) + (a.day == b.day) >= 2


def placeholder_name(name: str) -> bool:
    return fold(name).strip() in PLACEHOLDER_NAMES


_HANDLE_SEPARATORS = re.compile(r"[._]+")
_NOT_NAME = re.compile(r"[^\w\s,.'\-]|_")  # symbols and emoji; `_` only joins handle words
_DIGITS = re.compile(r"\d+")


def display_name(text: str) -> tuple[str, str]:
    """(given name, surname) of a name as people write it in one field: "Smith, John",
    "Bob S.", "John Smith", a handle such as "john.smith_82" or "@jsmith"; either part may be
    empty. Digits are dropped only where the text reads as a handle."""
    text = _NOT_NAME.sub(" ", text.replace("_", ".")).strip().lstrip("@").strip()
    if "," in text:
        surname, _, given = text.partition(",")
        first = _words(given)
        return (first[0] if first else ""), " ".join(_words(surname))
    if " " not in text and _HANDLE_SEPARATORS.search(text):
        words = [w for w in _HANDLE_SEPARATORS.split(_DIGITS.sub("", text)) if w]
        if len(words) >= 2:
            return words[0], words[-1]
        return (words[0], "") if words else ("", "")
    words = _words(text)
    if not words:
        return "", ""
    return words[0], words[-1] if len(words) > 1 else ""


def _words(text: str) -> list[str]:
    return [w.strip(".'-") for w in text.split() if w.strip(".'-")]
