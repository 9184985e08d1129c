"""Synthetic omnichannel customer records with ground truth, for tests, the demo and benchmarks.

The data is built to be hard in the ways real channel data is hard: each channel sees only what
it would really see, values arrive in many spellings, households share landlines, tablets and
computers, twins share a birthday and an address, staff type placeholders and their own store's
phone number, and people change email addresses. Some customers live in the US and write a
ZIP (a spreadsheet may have dropped its leading zero) and a US mobile the American way; social
profiles often carry a display name in one field ("Smith, John", "Bob S.", the handle); emails
are sometimes typed with a misspelt domain ("gmial.com"); a card may fail its check digit.
Everything comes from one seeded `random.Random`, so a seed always gives the same file.
"""

from __future__ import annotations

import dataclasses
import random
import re
import unicodedata
import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from itertools import accumulate
from pathlib import Path
from typing import TypeVar

import phonenumbers

from idres.ingest.files import split_suffix, write_table
from idres.resolver.domain.records import CANONICAL_COLUMNS

CHANNELS: tuple[str, ...] = ("web", "mobile_app", "call_centre", "store", "social_care", "email")
# The identifying fields each channel can capture, besides record_id, channel and ts.
CHANNEL_FIELDS: dict[str, frozenset[str]] = {
    "web": frozenset({"given_name", "surname", "postcode", "email", "device_id"}),
    "mobile_app": frozenset({"given_name", "surname", "email", "phone", "device_id"}),
    "call_centre": frozenset({"given_name", "surname", "dob", "postcode", "email", "phone"}),
    "store": frozenset({"given_name", "surname", "postcode", "phone", "loyalty_card"}),
    "social_care": frozenset({"given_name", "surname", "handle", "handle_platform"}),
    "email": frozenset({"given_name", "surname", "email"}),
}
PLACEHOLDER_EMAILS: tuple[str, ...] = ("test@test.com", "noemail@none.com", "none", "unknown")
PLACEHOLDER_PHONES: tuple[str, ...] = ("0000000000", "07000000000", "n/a")
PLACEHOLDER_DEVICE_IDS: tuple[str, ...] = ("00000000-0000-0000-0000-000000000000",)

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
TRUTH_COLUMNS: tuple[str, str] = ("record_id", "person_id")
_T = TypeVar("_T")

_RECORD_PREFIX = {
    "web": "web",
    "mobile_app": "app",
    "call_centre": "call",
    "store": "store",
    "social_care": "social",
    "email": "email",
}
# Channel preference before each person's means (no app, no handle, no card) are applied; set so
# that the records come out near web 27%, app 20%, call 15%, store 18%, social 8%, email 12%.
_CHANNEL_WEIGHTS = (0.25, 0.33, 0.14, 0.28, 0.15, 0.11)
# Stores and the call centre keep office hours; web, app and email never close.
_OPEN_HOURS = {"store": (8, 21), "call_centre": (8, 20), "social_care": (7, 23)}
_MEAN_EXTRA_RECORDS = 3.5  # records per person are 1 + a geometric-like tail (mean ~4)
_MAX_RECORDS = 40
_HOUSEHOLD_SHARE = 0.11  # of units; households of 2-4 then hold ~25% of persons
_STORES = 8  # a handful of store phones, each typed for many shoppers
_INVALID_RATE = 0.003  # records given one deliberately invalid value
_US_SHARE = 0.04  # of people living alone: a US customer, with a ZIP and a US mobile
_DISPLAY_NAME_RATE = 0.3  # of named social records: the profile's display name in one field
_DOMAIN_SLIP_RATE = 0.06  # of emails at a provider in `_DOMAIN_SLIPS`: a misspelt domain

# Given names with gender and the nicknames people really go by; the first are the most common.
_MALE = """
James:Jim,Jimmy,Jamie John:Jack,Johnny David:Dave,Davy Robert:Bob,Rob,Bobby Michael:Mike,Mick
William:Bill,Will,Billy Richard:Rick,Rich,Dick Thomas:Tom,Tommy Christopher:Chris Paul
Mark Andrew:Andy,Drew Peter:Pete Stephen:Steve Daniel:Dan,Danny Matthew:Matt Anthony:Tony
Joseph:Joe Edward:Ed,Eddie,Ted George Oliver:Ollie Harry Jack Charles:Charlie,Chas
Benjamin:Ben Samuel:Sam Alexander:Alex Jonathan:Jon,Jonny Nicholas:Nick,Nicky Timothy:Tim
Philip:Phil Patrick:Pat,Paddy Kenneth:Ken,Kenny Ronald:Ron,Ronnie Raymond:Ray Gary Kevin
Simon Martin Neil Ian Graham Colin Keith Barry Gordon Derek Trevor Nigel Clive Brian Alan
Frederick:Fred,Freddie Albert:Bert,Alf Alfred:Alf,Alfie Leonard:Len,Lenny Terence:Terry
Gerald:Gerry Gregory:Greg Dominic:Dom Sebastian:Seb Henry:Harry,Hal Joshua:Josh
Nathan:Nate Jacob:Jake Theodore:Theo Noah Leo Arthur Oscar Isaac Lucas Ethan Logan Adam
Ryan Dylan Callum Connor Kieran Lewis Luke Owen Rhys Sean Ross Craig Gareth Dafydd Iain
Hamish Angus Alistair:Ali Fraser Euan Stuart Hugo Toby Rupert Muhammad:Mo Mohammed:Mo
Ravi Arjun Rohan Amir Hassan Imran Tariq Omar Bilal Kwame Chidi Tomasz:Tomek Piotr Jakub
Wei Jun Declan Liam Aidan Ciaran Niall Darren Lee Wayne Shaun Dean Jamal Marcus Reece
"""
_FEMALE = """
Elizabeth:Liz,Beth,Lizzie,Betty Margaret:Maggie,Peggy,Meg Katherine:Kate,Kathy,Katie
Catherine:Cathy,Cath,Kate Sarah Emma Laura Rebecca:Becky,Becca Rachel Hannah Charlotte:Lottie
Jessica:Jess Sophie Chloe Lucy Emily:Em Olivia:Liv Amelia:Millie Isla Ava Mia Ivy Lily
Isabella:Bella,Izzy Grace Freya Poppy Evie Ella Florence:Flo Megan:Meg Bethany:Beth Lauren
Holly Hayley Gemma Kirsty Nicola:Nicky Claire Joanne:Jo Lisa Michelle:Shell Karen Tracey
Julie Susan:Sue Deborah:Debbie,Deb Sandra:Sandy Janet Patricia:Pat,Trish Victoria:Vicky
Alexandra:Alex Jennifer:Jen,Jenny Christine:Chris Barbara:Babs Dorothy:Dot Jean Joan Irene
Eileen Maureen Pauline Brenda Sheila Wendy Gillian:Gill Alison:Ali Fiona Morag Siobhan
Niamh Aoife Ciara Sinead Bronwen Cerys Siân Rhiannon Angharad Eleanor:Ellie,Nell
Harriet:Hattie Georgina:Georgie Imogen:Immy Abigail:Abbie Samantha:Sam Natalie:Nat
Caroline:Caz Frances:Fran Judith:Judy Valerie:Val Pamela:Pam Angela:Angie Josephine:Jo,Josie
Theresa:Tess Kimberley:Kim Penelope:Penny Madeleine:Maddie Zoë Priya Anjali Aisha Fatima
Zainab Ayesha Amina Ngozi Chiamaka Agnieszka:Aga Katarzyna:Kasia Magdalena:Magda Mei Xin
Alice Anna Amy Helen Jane Ruth Mary Ann Louise Kelly Donna Leanne Stacey Jade Amber Jasmine
"""
_SURNAMES = """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner
Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott
Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter
Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson
Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt
Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker
Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson
Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West
Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry
Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter
Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins
Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane
Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long
Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins
O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler
Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May
Pritchard Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley
Walters Hewitt Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens
Blake Akhtar Lynch Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi
Clayton Nash Greenwood Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson Fowler
Heath Norman Middleton Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward Carroll
Douglas Dickinson Todd Barlow Peters Lucas Knowles Hartley Miah Simmons Morton Alexander
Field Morrison Norris Townsend Preston Hancock Thornton Baldwin Burrows Briggs Storey Pugh
Jacobs Howe MacLeod Fraser Sinclair Buchanan Cameron MacDonald McLean Mackenzie Llewellyn
Nowak Kowalski Wiśniewska Chen Wong Li Zhang Okafor Adeyemi Mensah Okonkwo Nguyen Rahman
Chowdhury Iqbal Sharma Mistry Joshi Smith-Jones Hughes-Davies Da Silva De Souza Van Dyke
"""
_NAME_SKEW = 0.7  # Zipf-like exponent: a few names are very common, as in real registers

# Postcode areas: outward districts, the landline prefix for the area, and a population weight.
_AREAS: tuple[tuple[str, range, str, int], ...] = (
    ("E", range(1, 19), "020", 5),
    ("N", range(1, 23), "020", 5),
    ("NW", range(1, 12), "020", 4),
    ("SE", range(1, 29), "020", 6),
    ("SW", range(2, 21), "020", 6),
    ("W", range(2, 15), "020", 4),
    ("M", range(1, 41), "0161", 6),
    ("B", range(1, 77), "0121", 7),
    ("LS", range(1, 30), "0113", 4),
    ("G", range(1, 85), "0141", 5),
    ("EH", range(1, 56), "0131", 4),
    ("CF", range(3, 49), "0292", 3),
    ("BS", range(1, 50), "0117", 4),
    ("L", range(1, 39), "0151", 4),
    ("NE", range(1, 67), "0191", 4),
    ("S", range(1, 37), "0114", 4),
    ("NG", range(1, 26), "0115", 3),
    ("LE", range(1, 20), "0116", 3),
    ("OX", range(1, 50), "01865", 2),
    ("CB", range(1, 26), "01223", 2),
    ("BT", range(1, 50), "02890", 2),
    ("RG", range(1, 46), "0118", 2),
    ("BN", range(1, 46), "01273", 2),
    ("PL", range(1, 36), "01752", 2),
    ("AB", range(10, 57), "01224", 2),
    ("CV", range(1, 48), "02476", 2),
    ("YO", range(1, 63), "01904", 2),
    ("SO", range(14, 54), "02380", 2),
)
# Central London districts carry a letter (SW1A 1AA); they stand in for the whole area "SW1".
_CENTRAL = ("SW1A", "SW1P", "W1A", "W1D", "W1K", "EC1A", "EC2V", "EC4M", "WC1E", "WC2N")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # Royal Mail never uses C, I, K, M, O, V here

_EMAIL_PROVIDERS = (
    ("gmail.com", 30),
    ("googlemail.com", 4),
    ("hotmail.co.uk", 13),
    ("outlook.com", 10),
    ("yahoo.co.uk", 8),
    ("icloud.com", 9),
    ("btinternet.com", 6),
    ("hotmail.com", 5),
    ("live.co.uk", 4),
    ("sky.com", 4),
    ("virginmedia.com", 3),
    ("aol.com", 2),
    ("nhs.net", 2),
)
_GMAIL = ("gmail.com", "googlemail.com")
# Slips people make in a provider's domain; nobody receives mail at them.
_DOMAIN_SLIPS: dict[str, tuple[str, ...]] = {
    "gmail.com": ("gmial.com", "gamil.com", "gmail.con"),
    "hotmail.com": ("hotmial.com", "hotmal.com"),
    "outlook.com": ("outlok.com",),
    "icloud.com": ("iclod.com",),
}
# US area codes (valid geographic ones) and how Americans write a number.
_US_AREA_CODES = ("212", "312", "415", "617", "713", "305", "404", "206", "602", "303", "201")
_US_FORMATS: tuple[tuple[str, int], ...] = (
    ("({a}) {e}-{line}", 40),
    ("{a}-{e}-{line}", 20),
    ("+1 {a} {e} {line}", 15),
    ("{a}.{e}.{line}", 10),
    ("1-{a}-{e}-{line}", 10),
    ("{a}{e}{line}", 5),
)
_PLUS_TAGS = ("shop", "news", "promo", "orders", "spam", "uk")

_PLATFORMS = (("instagram", 35), ("facebook", 30), ("twitter", 20), ("tiktok", 15))
_PLATFORM_SPELLINGS: dict[str, tuple[tuple[str, int], ...]] = {
    "twitter": (("twitter", 35), ("Twitter", 20), ("x", 30), ("X", 15)),
    "instagram": (("instagram", 50), ("Instagram", 25), ("ig", 15), ("IG", 10)),
    "facebook": (("facebook", 50), ("Facebook", 25), ("fb", 15), ("FB", 10)),
    "tiktok": (("tiktok", 60), ("TikTok", 35), ("Tiktok", 5)),
}
_PROFILE_URLS: dict[str, tuple[str, ...]] = {
    "twitter": ("https://x.com/{}", "https://twitter.com/{}", "x.com/{}", "twitter.com/{}"),
    "instagram": ("https://www.instagram.com/{}/", "instagram.com/{}/", "https://instagram.com/{}"),
    "facebook": ("https://www.facebook.com/{}", "facebook.com/{}", "https://m.facebook.com/{}"),
    "tiktok": ("https://www.tiktok.com/@{}", "tiktok.com/@{}"),
}
_LOYALTY_PREFIX = "6338"

# How a phone is written: (formatter, weight); "g" is the grouped national form without the 0.
_MOBILE_FORMATS: tuple[tuple[str, int], ...] = (
    ("0{g}", 38),
    ("{d}", 20),
    ("+44 {g}", 12),
    ("+44{n}", 8),
    ("0044 {g}", 6),
    ("{dashed}", 6),
    ("(+44) {n}", 5),
    ("0{spaced}", 5),
)
_LANDLINE_FORMATS: tuple[tuple[str, int], ...] = (
    ("0{g}", 50),
    ("{d}", 20),
    ("+44 {g}", 12),
    ("({code}) {rest}", 12),
    ("0044 {g}", 6),
)


@dataclass(frozen=True, slots=True)
class GeneratedData:
    """Records in canonical columns ("" for absent), sorted by ts, with (record_id, person_id)."""

    records: list[dict[str, str]]
    truth: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class _Phone:
    digits: str  # national form: with the leading 0 (GB), or the ten digits (US)
    code_len: int  # digits of the dialling code (with the 0), for grouping as people write it
    region: str = "GB"


@dataclass(frozen=True, slots=True)
class _Home:
    area: int
    postcode: str
    landline: _Phone | None
    tablet_ad_id: str | None  # a family tablet: one ad id for several people
    family_cookie: str | None  # a shared family computer


@dataclass(slots=True)
class _Person:
    person_id: str
    gender: str
    given: str
    surname: str
    dob: date
    home: _Home
    postcodes: tuple[str, ...]  # a second one after `move_at` for people who move
    move_at: int
    emails: tuple[str, ...]  # a second one after `email_change_at` for people who switch
    email_change_at: int
    mobile: _Phone | None
    handle: tuple[str, str] | None  # (platform, handle)
    ad_id: str | None
    cookies: tuple[str, ...]
    card: str | None
    store: int
    weights: tuple[float, ...] = ()


def _parse_names(text: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    names: list[str] = []
    nicknames: dict[str, tuple[str, ...]] = {}
    for token in text.split():
        name, _, nicks = token.partition(":")
        names.append(name)
        if nicks:
            nicknames[name] = tuple(nicks.split(","))
    return tuple(names), nicknames


def _zipf(count: int) -> list[float]:
    return list(accumulate(1.0 / (rank + 3) ** _NAME_SKEW for rank in range(count)))


def _cumulative(pairs: Sequence[tuple[object, int]]) -> list[float]:
    return list(accumulate(float(weight) for _, weight in pairs))


def _weighted(rng: random.Random, items: Sequence[_T], cum: Sequence[float]) -> _T:
    """One weighted draw from precomputed cumulative weights; far cheaper than rng.choices."""
    return items[bisect_right(cum, rng.random() * cum[-1])]


_MALE_NAMES, _MALE_NICKS = _parse_names(_MALE)
_FEMALE_NAMES, _FEMALE_NICKS = _parse_names(_FEMALE)
_NICKNAMES = {**_MALE_NICKS, **_FEMALE_NICKS}
_SURNAME_LIST = tuple(_SURNAMES.split())
_MALE_CUM, _FEMALE_CUM, _SURNAME_CUM = (
    _zipf(len(_MALE_NAMES)),
    _zipf(len(_FEMALE_NAMES)),
    _zipf(len(_SURNAME_LIST)),
)
_AREA_CUM = list(accumulate(float(area[3]) for area in _AREAS))
_PROVIDER_CUM = _cumulative(_EMAIL_PROVIDERS)
_PLATFORM_CUM = _cumulative(_PLATFORMS)
_SPELLING_CUM = {platform: _cumulative(pairs) for platform, pairs in _PLATFORM_SPELLINGS.items()}
_MOBILE_FORMAT_CUM = _cumulative(_MOBILE_FORMATS)
_LANDLINE_FORMAT_CUM = _cumulative(_LANDLINE_FORMATS)
_US_FORMAT_CUM = _cumulative(_US_FORMATS)


@cache  # a few hundred distinct names, asked for tens of thousands of times
def _ascii(text: str) -> str:
    """Lower-case letters and digits only, accents dropped: what people type into usernames."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str(-total % 10)


def luhn_valid(number: str) -> bool:
    """True when the last digit is the Luhn check digit of the rest (loyalty cards, tests)."""
    return number.isdigit() and len(number) > 1 and _luhn_digit(number[:-1]) == number[-1]


def _gb_pattern(kind: str) -> re.Pattern[str]:
    """phonenumbers' own GB pattern, matched directly: as strict as is_valid_number (stricter
    about Crown-dependency ranges) and ~50x cheaper, which matters at 100k records."""
    desc = getattr(phonenumbers.PhoneMetadata.metadata_for_region("GB"), kind, None)
    pattern = getattr(desc, "national_number_pattern", None)
    if not isinstance(pattern, str):
        raise RuntimeError(f"phonenumbers has no GB {kind} pattern")
    return re.compile(pattern)


_GB_MOBILE = _gb_pattern("mobile")
_GB_FIXED = _gb_pattern("fixed_line")
_DRAMA_RANGE = "07700900"  # reserved for fiction; never a customer's phone


def _is_gb_mobile(digits: str) -> bool:
    return bool(_GB_MOBILE.fullmatch(digits[1:])) and not digits.startswith(_DRAMA_RANGE)


def _is_gb_landline(digits: str) -> bool:
    return bool(_GB_FIXED.fullmatch(digits[1:]))


def _is_us_number(digits: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(f"+1{digits}"))


def _group(phone: _Phone) -> tuple[str, str]:
    """("7911 123456" style grouping without the leading 0, the digits after the code)."""
    d, k = phone.digits, phone.code_len
    rest = d[k:]
    if k <= 3:  # 020 7946 0123
        rest = f"{rest[:4]} {rest[4:]}"
    elif k == 4:  # 0161 496 0123
        rest = f"{rest[:3]} {rest[3:]}"
    return f"{d[1:k]} {rest}", rest


class _Synth:
    """One generation run: the seeded random source plus what must stay unique across people."""

    def __init__(self, persons: int, seed: int, start: datetime, days: int) -> None:
        self.rng = random.Random(seed)
        self.persons = persons
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.span = max(1, days) * 86_400
        self.used: set[str] = set()  # emails, handles, cards, phones already given out
        self.postcode_pool: dict[int, list[str]] = {}
        self.store_areas = [self._area() for _ in range(_STORES)]
        self.stores = [self._landline(_AREAS[area][2]) for area in self.store_areas]

    # ---- people and households ----------------------------------------------------------

    def people(self) -> list[_Person]:
        people: list[_Person] = []
        while len(people) < self.persons:
            if self.rng.random() < _HOUSEHOLD_SHARE:
                people.extend(self._household())
            else:
                people.append(self._single())
        return people[: self.persons]

    def _single(self) -> _Person:
        rng = self.rng
        home = self._home(landline=rng.random() < 0.3, shared_devices=False)
        us = rng.random() < _US_SHARE
        if us:  # no UK postcode or landline; still shops at a store and calls the centre
            home = dataclasses.replace(home, postcode=self._zip(), landline=None)
        gender = rng.choice("mf")
        person = self._person(gender, self._given(gender), self._surname(), self._dob(18, 88), home)
        if us:
            person.mobile = self._us_mobile()
        return person

    def _zip(self) -> str:
        """A five-digit ZIP code; one in five starts with 0 (New England, New Jersey)."""
        first = "0" if self.rng.random() < 0.2 else str(self.rng.randint(1, 9))
        return first + self._digits(4)

    def _us_mobile(self) -> _Phone:
        while True:
            exchange = f"{self.rng.randint(2, 9)}{self._digits(2)}"
            digits = f"{self.rng.choice(_US_AREA_CODES)}{exchange}{self._digits(4)}"
            if exchange != "555" and digits not in self.used and _is_us_number(digits):
                self.used.add(digits)
                return _Phone(digits, 3, "US")

    def _household(self) -> list[_Person]:
        rng = self.rng
        size = rng.choices((2, 3, 4), cum_weights=(50, 80, 100))[0]
        home = self._home(landline=rng.random() < 0.75, shared_devices=True)
        if rng.random() < 0.1:  # flatmates: one address, nothing else in common
            return [self._flatmate(home) for _ in range(size)]
        return self._family(home, size)

    def _flatmate(self, home: _Home) -> _Person:
        gender = self.rng.choice("mf")
        return self._person(gender, self._given(gender), self._surname(), self._dob(19, 35), home)

    def _family(self, home: _Home, size: int) -> list[_Person]:
        rng = self.rng
        surname = self._surname()
        kids = size - 1 if rng.random() < 0.15 else size - 2
        head_gender = rng.choice("mf")
        head_dob = self._dob(40 if kids else 22, 80)
        head = self._person(head_gender, self._given(head_gender), surname, head_dob, home)
        members = [head]
        if size - kids == 2:
            members.append(self._partner(head, home))
        members.extend(self._children(head, kids, home))
        return members

    def _partner(self, head: _Person, home: _Home) -> _Person:
        rng = self.rng
        gender = ("f" if head.gender == "m" else "m") if rng.random() < 0.92 else head.gender
        surname = head.surname if rng.random() < 0.85 else self._surname()
        dob = head.dob + timedelta(days=rng.randint(-6 * 365, 6 * 365))
        adult = self.start.date() - timedelta(days=18 * 365)
        return self._person(gender, self._given(gender), surname, min(dob, adult), home)

    def _children(self, head: _Person, count: int, home: _Home) -> list[_Person]:
        rng = self.rng
        children: list[_Person] = []
        twins = count >= 2 and rng.random() < 0.25
        junior = head.gender == "m" and rng.random() < 0.15
        for i in range(count):
            gender = rng.choice("mf")
            # Twins share a birthday as well as a surname and an address.
            dob = children[0].dob if twins and i == 1 else self._child_dob(head.dob)
            given = self._given(gender, exclude={c.given for c in children})
            if junior and i == 0:  # father and son of the same name, told apart by dob
                gender, given = "m", head.given
            children.append(self._person(gender, given, head.surname, dob, home))
        return children

    def _child_dob(self, parent: date) -> date:
        latest = self.start.date() - timedelta(days=16 * 365)  # customers are 16 or over
        dob = parent + timedelta(days=self.rng.randint(20 * 365, 36 * 365))
        return min(dob, latest - timedelta(days=self.rng.randrange(3 * 365)))

    def _person(self, gender: str, given: str, surname: str, dob: date, home: _Home) -> _Person:
        rng = self.rng
        person = _Person(
            person_id="",
            gender=gender,
            given=given,
            surname=surname,
            dob=dob,
            home=home,
            postcodes=(home.postcode,),
            move_at=self.span,
            emails=(self._email(given, surname),),
            email_change_at=self.span,
            mobile=self._mobile() if rng.random() < 0.95 else None,
            handle=self._handle(given, surname) if rng.random() < 0.5 else None,
            ad_id=self._ad_id() if rng.random() < 0.6 else None,
            cookies=tuple(self._cookie() for _ in range(1 + (rng.random() < 0.25))),
            card=self._card() if rng.random() < 0.55 else None,
            store=self._home_store(home.area),
        )
        self._add_life_events(person)
        person.weights = self._channel_weights(person)
        return person

    def _add_life_events(self, person: _Person) -> None:
        rng = self.rng
        if rng.random() < 0.10:  # a new email address, used from then on
            person.emails += (self._email(person.given, person.surname),)
            person.email_change_at = rng.randrange(self.span // 5, self.span * 4 // 5)
        if person.home.landline is None and rng.random() < 0.05:  # moved house
            person.postcodes += (self._postcode(self._area()),)
            person.move_at = rng.randrange(self.span // 5, self.span * 4 // 5)

    def _channel_weights(self, p: _Person) -> tuple[float, ...]:
        rng = self.rng
        can_app = p.ad_id is not None or p.home.tablet_ad_id is not None
        ability = (
            1.0,
            1.0 if can_app else 0.0,
            1.0,
            1.0 if p.card else 0.15,
            1.0 if p.handle else 0.0,
            1.0,
        )
        # Personal taste: some people live in the app, others only ever phone.
        return tuple(
            w * a * rng.uniform(0.2, 1.8) for w, a in zip(_CHANNEL_WEIGHTS, ability, strict=True)
        )

    # ---- attribute values --------------------------------------------------------------

    def _given(self, gender: str, exclude: set[str] | None = None) -> str:
        names, cum = (_MALE_NAMES, _MALE_CUM) if gender == "m" else (_FEMALE_NAMES, _FEMALE_CUM)
        while True:
            name = _weighted(self.rng, names, cum)
            if not exclude or name not in exclude:
                return name

    def _surname(self) -> str:
        return _weighted(self.rng, _SURNAME_LIST, _SURNAME_CUM)

    def _dob(self, youngest: int, oldest: int) -> date:
        age_days = self.rng.randint(youngest * 365, oldest * 365 + 364)
        return self.start.date() - timedelta(days=age_days)

    def _area(self) -> int:
        return _weighted(self.rng, range(len(_AREAS)), _AREA_CUM)

    def _postcode(self, area: int) -> str:
        rng = self.rng
        prefix, districts, _, _ = _AREAS[area]
        outward = f"{prefix}{rng.choice(districts)}"
        if prefix in ("SW", "W") and rng.random() < 0.05:
            outward = rng.choice(_CENTRAL)
        letters = rng.choice(_INWARD_LETTERS) + rng.choice(_INWARD_LETTERS)
        return f"{outward} {rng.randrange(10)}{letters}"

    def _home(self, landline: bool, shared_devices: bool) -> _Home:
        rng = self.rng
        area = self._area()
        # A postcode covers ~15 addresses: unrelated neighbours sometimes share one.
        pool = self.postcode_pool.setdefault(area, [])
        if pool and rng.random() < 0.08:
            postcode = rng.choice(pool)
        else:
            postcode = self._postcode(area)
            pool.append(postcode)
        return _Home(
            area=area,
            postcode=postcode,
            landline=self._landline(_AREAS[area][2]) if landline else None,
            tablet_ad_id=self._ad_id() if shared_devices and rng.random() < 0.35 else None,
            family_cookie=self._cookie() if shared_devices and rng.random() < 0.2 else None,
        )

    def _digits(self, count: int) -> str:
        return str(self.rng.randrange(10**count)).zfill(count)

    def _mobile(self) -> _Phone:
        while True:
            digits = f"07{self.rng.choice('45789')}{self._digits(8)}"
            if digits not in self.used and _is_gb_mobile(digits):
                self.used.add(digits)
                return _Phone(digits, 5)

    def _landline(self, code: str) -> _Phone:
        code_len = 3 if code.startswith("02") else len(code)
        while True:
            if code == "020":
                digits = f"020{self.rng.choice('378')}{self._digits(7)}"
            else:
                digits = f"{code}{self.rng.randint(2, 9)}{self._digits(10 - len(code))}"
            if digits not in self.used and _is_gb_landline(digits):
                self.used.add(digits)
                return _Phone(digits, code_len)

    def _home_store(self, area: int) -> int:
        # Most people shop at a store in their own area when there is one.
        local = [i for i, store_area in enumerate(self.store_areas) if store_area == area]
        if local and self.rng.random() < 0.8:
            return self.rng.choice(local)
        return self.rng.randrange(_STORES)

    def _email(self, given: str, surname: str) -> str:
        rng = self.rng
        g, s = _ascii(given), _ascii(surname)
        if rng.random() < 0.15 and given in _NICKNAMES:
            g = _ascii(rng.choice(_NICKNAMES[given]))
        yy = f"{rng.randrange(100):02d}"
        local = rng.choice(
            (f"{g}.{s}", f"{g}{s}", f"{g[0]}{s}", f"{g}.{s}{yy}", f"{s}.{g}", f"{g}_{s}",
             f"{g}{s}{yy}", f"{g[0]}.{s}", f"{s}{g[0]}{yy}", f"{g}{yy}")
        )  # fmt: skip
        provider = _weighted(rng, _EMAIL_PROVIDERS, _PROVIDER_CUM)[0]
        while (key := _email_key(local, provider)) in self.used:
            local = f"{local}{rng.randrange(1, 100)}"
        self.used.add(key)
        return f"{local}@{provider}"

    def _handle(self, given: str, surname: str) -> tuple[str, str]:
        rng = self.rng
        platform = _weighted(rng, _PLATFORMS, _PLATFORM_CUM)[0]
        g, s = _ascii(given), _ascii(surname)
        n = str(rng.randrange(1, 1000))
        handle = rng.choice(
            (f"{g}{s}", f"{g}_{s}", f"{g}.{s}{n}", f"the_{s}", f"{g}{n}", f"{g[0]}{s}_{n}",
             f"{s}.{g}", f"real{g}{s}", f"{g}_{n}")
        )  # fmt: skip
        handle = _platform_handle(platform, handle)
        while f"{platform}|{handle}" in self.used:
            handle = _platform_handle(platform, f"{handle[:10]}{rng.randrange(1000, 100_000)}")
        self.used.add(f"{platform}|{handle}")
        return platform, handle

    def _ad_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _cookie(self) -> str:
        first_seen = int(self.start.timestamp()) - self.rng.randrange(2 * 365 * 86_400)
        return f"GA1.2.{self.rng.randrange(100_000_000, 2_147_483_647)}.{first_seen}"

    def _card(self) -> str:
        while True:
            body = _LOYALTY_PREFIX + self._digits(11)
            card = body + _luhn_digit(body)
            if card not in self.used:
                self.used.add(card)
                return card


def _email_key(local: str, provider: str) -> str:
    """What a mailbox is really called: Gmail ignores dots and treats googlemail as gmail."""
    if provider in _GMAIL:
        return f"{local.replace('.', '')}@gmail.com"
    return f"{local}@{provider}"


def _platform_handle(platform: str, handle: str) -> str:
    """Squeeze a handle into what each platform allows."""
    if platform == "twitter":
        return handle.replace(".", "_")[:15]
    if platform == "facebook":
        handle = handle.replace("_", ".").strip(".")
        return handle if len(handle) >= 5 else f"{handle}.{len(handle)}0"
    return handle[:24]


class _Renderer:
    """Turns a person into channel records, with the noise each channel really produces."""

    def __init__(self, synth: _Synth) -> None:
        self.rng = synth.rng
        self.synth = synth
        self.builders: dict[str, Callable[[_Person, int], dict[str, str]]] = {
            "web": self._web,
            "mobile_app": self._app,
            "call_centre": self._call,
            "store": self._store,
            "social_care": self._social,
            "email": self._email_record,
        }

    def records(self, p: _Person) -> list[tuple[int, str, dict[str, str]]]:
        rng = self.rng
        count = min(_MAX_RECORDS, 1 + int(rng.expovariate(1 / _MEAN_EXTRA_RECORDS)))
        out = []
        for channel in rng.choices(CHANNELS, weights=p.weights, k=count):
            offset = self._offset(channel)
            fields = self.builders[channel](p, offset)
            if rng.random() < _INVALID_RATE:
                self._corrupt(fields)
            out.append((offset, channel, fields))
        return out

    def _offset(self, channel: str) -> int:
        day = int(self.rng.random() * (self.synth.span // 86_400)) * 86_400
        lo, hi = _OPEN_HOURS.get(channel, (0, 24))
        return day + lo * 3600 + int(self.rng.random() * (hi - lo) * 3600)

    # ---- channels ----------------------------------------------------------------------

    def _web(self, p: _Person, at: int) -> dict[str, str]:
        rng = self.rng
        fields: dict[str, str] = {}
        if rng.random() < 0.7:
            self._names(fields, p, given=0.9)
        if rng.random() < 0.88:
            fields["email"] = self._email(p, at, placeholder=0.015)
        if rng.random() < 0.3:
            fields["postcode"] = self._postcode(p, at)
        if rng.random() < 0.95:
            fields["device_id"] = self._cookie(p)
        return fields

    def _app(self, p: _Person, at: int) -> dict[str, str]:
        rng = self.rng
        fields: dict[str, str] = {}
        if rng.random() < 0.7:
            self._names(fields, p, given=0.95)
        if rng.random() < 0.85:
            fields["email"] = self._email(p, at, placeholder=0.01)
        if p.mobile and rng.random() < 0.35:
            fields["phone"] = self._phone(p.mobile, placeholder=0.02)
        if rng.random() < 0.96:
            fields["device_id"] = self._ad_id(p)
        return fields

    def _call(self, p: _Person, at: int) -> dict[str, str]:
        rng = self.rng
        fields: dict[str, str] = {}
        if rng.random() < 0.98:
            self._names(fields, p, given=0.9)
        phone = self._call_phone(p)
        if phone and rng.random() < 0.95:
            fields["phone"] = self._phone(phone, placeholder=0.04)
        if rng.random() < 0.65:
            fields["dob"] = self._dob(p)
        if rng.random() < 0.6:
            fields["postcode"] = self._postcode(p, at)
        if rng.random() < 0.12:  # agents rarely ask, and often type a filler
            fields["email"] = self._email(p, at, placeholder=0.4)
        return fields

    def _call_phone(self, p: _Person) -> _Phone | None:
        landline = p.home.landline
        if landline and (p.mobile is None or self.rng.random() < 0.5):
            return landline
        return p.mobile

    def _store(self, p: _Person, at: int) -> dict[str, str]:
        rng = self.rng
        fields: dict[str, str] = {}
        if p.card and rng.random() < 0.88:
            fields["loyalty_card"] = self._card(p.card)
        if rng.random() < 0.8:
            self._names(fields, p, given=0.7)
        if rng.random() < 0.7:
            fields["postcode"] = self._postcode(p, at)
        if rng.random() < 0.38:
            fields["phone"] = self._store_phone(p)
        return fields

    def _store_phone(self, p: _Person) -> str:
        roll = self.rng.random()
        if roll < 0.4:  # the till wants a number: staff type the store's own
            return self._phone_text(self.synth.stores[p.store])
        if roll < 0.52 or p.mobile is None:
            return self.rng.choice(PLACEHOLDER_PHONES)
        return self._phone(p.mobile, placeholder=0.0)

    def _social(self, p: _Person, at: int) -> dict[str, str]:
        rng = self.rng
        assert p.handle is not None  # only people with a handle get social_care records
        platform, handle = p.handle
        fields = {"handle": self._handle_text(platform, handle)}
        if rng.random() < 0.96:
            spellings = _PLATFORM_SPELLINGS[platform]
            fields["handle_platform"] = _weighted(rng, spellings, _SPELLING_CUM[platform])[0]
        if rng.random() < 0.65:
            self._names(fields, p, given=0.95, nickname=0.3)
            if rng.random() < _DISPLAY_NAME_RATE:
                fields["given_name"] = self._display_name(p, handle)
                del fields["surname"]
        return fields

    def _display_name(self, p: _Person, handle: str) -> str:
        """A profile's name as people set it: the first name, a nickname and an initial,
        "Smith, John", or the handle itself."""
        rng = self.rng
        given = rng.choice(_NICKNAMES[p.given]) if p.given in _NICKNAMES else p.given
        return rng.choice((p.given, f"{given} {p.surname[0]}.", f"{p.surname}, {p.given}", handle))

    def _email_record(self, p: _Person, at: int) -> dict[str, str]:
        fields = {"email": self._email(p, at, placeholder=0.0)}
        if self.rng.random() < 0.45:
            self._names(fields, p, given=0.9)
        return fields

    # ---- values ------------------------------------------------------------------------

    def _names(
        self, fields: dict[str, str], p: _Person, given: float, nickname: float = 0.12
    ) -> None:
        rng = self.rng
        case = rng.random()
        style = str.upper if case < 0.04 else str.lower if case < 0.07 else str
        if rng.random() < given:
            name = p.given
            roll = rng.random()
            if roll < nickname and name in _NICKNAMES:
                name = rng.choice(_NICKNAMES[name])
            elif roll > 0.97:
                name = f"{name[0]}."
            fields["given_name"] = self._typo(style(name))
        surname = self._typo(style(p.surname))
        fields["surname"] = f" {surname}" if rng.random() < 0.01 else surname

    def _typo(self, text: str) -> str:
        """One edit (swap, drop, double or change a letter) in ~2.5% of names."""
        rng = self.rng
        if len(text) < 4 or rng.random() >= 0.025:
            return text
        i = rng.randrange(1, len(text) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if kind == 1:
            return text[:i] + text[i + 1 :]
        if kind == 2:
            return text[:i] + text[i] + text[i:]
        letter = rng.choice("aeioulnrst")
        return text[:i] + letter + text[i + 1 :]

    def _email(self, p: _Person, at: int, placeholder: float) -> str:
        rng = self.rng
        if rng.random() < placeholder:
            return rng.choice(PLACEHOLDER_EMAILS)
        email = p.emails[-1] if at >= p.email_change_at else p.emails[0]
        local, _, domain = email.partition("@")
        if domain in _GMAIL:
            local, domain = self._gmail_noise(local, domain)
        domain = self._domain(domain)
        roll = rng.random()
        if roll < 0.06:
            local, domain = local.upper(), domain.upper()
        elif roll < 0.1:
            local = local.capitalize()
        text = f"{local}@{domain}"
        return f" {text} " if rng.random() < 0.03 else text

    def _gmail_noise(self, local: str, domain: str) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < 0.12:  # Gmail ignores dots, so people drop or add them
            if "." in local:
                local = local.replace(".", "")
            else:
                i = rng.randrange(1, len(local))
                local = f"{local[:i]}.{local[i:]}"
        if rng.random() < 0.06:
            local = f"{local}+{rng.choice(_PLUS_TAGS)}"
        if rng.random() < 0.1:
            domain = "googlemail.com" if domain == "gmail.com" else "gmail.com"
        return local, domain

    def _domain(self, domain: str) -> str:
        slips = _DOMAIN_SLIPS.get(domain)
        if slips and self.rng.random() < _DOMAIN_SLIP_RATE:
            return self.rng.choice(slips)
        return domain

    def _phone(self, phone: _Phone, placeholder: float) -> str:
        if self.rng.random() < placeholder:
            return self.rng.choice(PLACEHOLDER_PHONES)
        return self._phone_text(phone)

    def _phone_text(self, phone: _Phone) -> str:
        d = phone.digits
        if phone.region == "US":
            template = _weighted(self.rng, _US_FORMATS, _US_FORMAT_CUM)[0]
            return template.format(a=d[:3], e=d[3:6], line=d[6:])
        grouped, rest = _group(phone)
        if phone.code_len == 5 and d.startswith("07"):
            template = _weighted(self.rng, _MOBILE_FORMATS, _MOBILE_FORMAT_CUM)[0]
        else:
            template = _weighted(self.rng, _LANDLINE_FORMATS, _LANDLINE_FORMAT_CUM)[0]
        return template.format(
            g=grouped,
            d=d,
            n=d[1:],
            dashed=f"{d[:5]}-{d[5:8]}-{d[8:]}",
            spaced=f"{d[1:5]} {d[5:8]} {d[8:]}",
            code=d[: phone.code_len],
            rest=rest,
        )

    def _postcode(self, p: _Person, at: int) -> str:
        postcode = p.postcodes[-1] if at >= p.move_at else p.postcodes[0]
        roll = self.rng.random()
        if postcode.isdigit():  # a ZIP: spreadsheets drop its leading zero
            return postcode.lstrip("0") if roll < 0.3 else postcode
        if roll < 0.08:
            return postcode.replace(" ", "")
        if roll < 0.14:
            return postcode.lower()
        if roll < 0.16:
            return postcode.lower().replace(" ", "")
        if roll < 0.18:
            return postcode.replace(" ", "  ")
        return postcode

    def _dob(self, p: _Person) -> str:
        dob = p.dob
        if dob.day <= 12 and dob.day != dob.month and self.rng.random() < 0.015:
            dob = dob.replace(day=dob.month, month=dob.day)  # US-style entry slipped through
        return dob.isoformat()

    def _handle_text(self, platform: str, handle: str) -> str:
        roll = self.rng.random()
        if roll < 0.22:
            return f"@{handle}"
        if roll < 0.32:
            return handle.upper() if roll < 0.26 else handle.title()
        if roll < 0.5:
            return self.rng.choice(_PROFILE_URLS[platform]).format(handle)
        return handle

    def _ad_id(self, p: _Person) -> str:
        rng = self.rng
        tablet = p.home.tablet_ad_id
        if tablet and (p.ad_id is None or rng.random() < 0.35):
            ad_id = tablet
        else:
            assert p.ad_id is not None
            ad_id = p.ad_id
        roll = rng.random()
        if roll < 0.04:  # "limit ad tracking" hands apps the all-zero id
            return PLACEHOLDER_DEVICE_IDS[0]
        if roll < 0.22:
            return ad_id.upper()
        if roll < 0.3:
            return ad_id.replace("-", "")
        return ad_id

    def _cookie(self, p: _Person) -> str:
        rng = self.rng
        family = p.home.family_cookie
        cookie = family if family and rng.random() < 0.4 else rng.choice(p.cookies)
        # Some tags send only the client id, without the "GA1.2." version prefix.
        return cookie[6:] if rng.random() < 0.1 else cookie

    def _card(self, card: str) -> str:
        if self.rng.random() < 0.3:
            return " ".join(card[i : i + 4] for i in range(0, 16, 4))
        return card

    def _corrupt(self, fields: dict[str, str]) -> None:
        """Give one field a value no normalizer can accept, so error reporting gets used."""
        rng = self.rng
        present = [f for f in ("email", "phone", "loyalty_card", "dob") if fields.get(f)]
        if not present:
            return
        field = rng.choice(present)
        if field == "email":
            bad = ("not-an-email", "john smith@gmail.com", "jsmith@@hotmail.co.uk", "@gmail.com")
            fields[field] = rng.choice(bad)
        elif field == "phone":
            fields[field] = rng.choice(("12345", "0791112", "phone me"))
        elif field == "loyalty_card":
            digits = fields[field].replace(" ", "")
            fields[field] = digits[:-1] + str((int(digits[-1]) + 1) % 10)  # bad check digit
        else:
            fields[field] = f"{fields[field][:4]}-13-{rng.randint(10, 28)}"


def generate(
    persons: int, seed: int, *, start: datetime = DEFAULT_START, days: int = 365
) -> GeneratedData:
    """Records for `persons` people over `days` days from `start`; the same seed, the same data."""
    if persons < 0:
        raise ValueError("persons must be zero or more")
    synth = _Synth(persons, seed, start, days)
    renderer = _Renderer(synth)
    raw: list[tuple[int, int, str, str, dict[str, str]]] = []
    for number, person in enumerate(synth.people(), start=1):
        person.person_id = f"person-{number:06d}"
        for offset, channel, fields in renderer.records(person):
            raw.append((offset, len(raw), channel, person.person_id, fields))
    raw.sort(key=lambda item: (item[0], item[1]))
    return _assemble(raw, int(synth.start.timestamp()))


@lru_cache(maxsize=4096)
def _iso_day(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")


def _iso(seconds: int) -> str:
    """UTC ISO-8601 from epoch seconds, the date part cached: strftime per record is slow."""
    day, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    return f"{_iso_day(day)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def _assemble(raw: list[tuple[int, int, str, str, dict[str, str]]], epoch: int) -> GeneratedData:
    """Number records per channel in time order and fill every canonical column."""
    counters = dict.fromkeys(CHANNELS, 0)
    blank = dict.fromkeys(CANONICAL_COLUMNS, "")
    records: list[dict[str, str]] = []
    truth: list[tuple[str, str]] = []
    for offset, _, channel, person_id, fields in raw:
        counters[channel] += 1
        record_id = f"{_RECORD_PREFIX[channel]}-{counters[channel]:06d}"
        record = dict(blank)
        record.update(fields, record_id=record_id, channel=channel, ts=_iso(epoch + offset))
        records.append(record)
        truth.append((record_id, person_id))
    return GeneratedData(records, truth)


def default_truth_path(out: Path) -> Path:
    """people.parquet -> people.truth.csv: two columns any tool can join on, whatever the data."""
    stem, _ = split_suffix(out)
    return out.with_name(f"{stem}.truth.csv")


def write_generated(
    out: Path, persons: int, seed: int, truth: Path | None = None
) -> tuple[Path, Path, int]:
    """Generate and write records and ground truth; returns (out, truth, record count)."""
    out = Path(out)
    truth_path = Path(truth) if truth is not None else default_truth_path(out)
    split_suffix(truth_path)  # fail on a bad extension before generating anything
    if truth_path.resolve() == out.resolve():
        raise ValueError("the ground-truth file must differ from the output file")
    return write_dataset(generate(persons, seed), out, truth_path)


def write_dataset(data: GeneratedData, out: Path, truth: Path) -> tuple[Path, Path, int]:
    """Writes generated records to `out` and their ground truth to `truth`."""
    rows = ([record[c] for c in CANONICAL_COLUMNS] for record in data.records)
    count = write_table(out, CANONICAL_COLUMNS, rows)
    write_table(truth, TRUTH_COLUMNS, data.truth)
    return out, truth, count
