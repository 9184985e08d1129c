"""What is known of a customer's attributes, summarised for contradiction checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from idres.resolver.domain.identifiers import Identifier, IdentifierKind
from idres.resolver.domain.names import (
    display_name_holds,
    dobs_agree,
    given_names_agree,
    given_names_may_meet,
    surnames_agree,
)
from idres.resolver.domain.overrides import Mark, kept_apart
from idres.resolver.domain.records import Attributes


@dataclass(slots=True)
class Profile:
    """A customer as the linking rules see it. `seq` orders customers by age."""

    customer_id: str
    seq: int
    given_names: set[str] = field(default_factory=set)
    surnames: set[str] = field(default_factory=set)
    dobs: set[date] = field(default_factory=set)
    identifiers: set[Identifier] = field(default_factory=set)
    marks: set[Mark] = field(default_factory=set)
    """The sides of operator splits its records are on (`overrides`)."""

    def add(self, attributes: Attributes) -> None:
        if attributes.given_name:
            self.given_names.add(attributes.given_name)
        if attributes.surname:
            self.surnames.add(attributes.surname)
        if attributes.dob:
            self.dobs.add(attributes.dob)

    def copy(self) -> Profile:
        return Profile(
            self.customer_id,
            self.seq,
            set(self.given_names),
            set(self.surnames),
            set(self.dobs),
            set(self.identifiers),
            set(self.marks),
        )

    def absorb(self, other: Profile) -> None:
        self.given_names |= other.given_names
        self.surnames |= other.surnames
        self.dobs |= other.dobs
        self.identifiers |= other.identifiers
        self.marks |= other.marks


def profile_of(attributes: Attributes) -> Profile:
    """A throwaway profile, so a record and a customer compare the same way two customers do."""
    profile = Profile("", 0)
    profile.add(attributes)
    return profile


SURE_IDENTIFIERS = 2
"""Identifiers in common that outweigh a given name that differs: a nickname no table knows
("Pat" for Patrick) or a typo is likelier than a second person with the same email and
phone."""


def contradict(a: Profile, b: Profile) -> str:
    """Why `a` and `b` cannot be one person, or "" when nothing says so."""
    reason = operator_veto(a, b)
    if reason:
        return reason
    if a.dobs and b.dobs and not any(dobs_agree(x, y) for x in a.dobs for y in b.dobs):
        return "dates of birth differ"
    if a.given_names and b.given_names and not _names_meet(a, b):
        if len(a.identifiers & b.identifiers) >= SURE_IDENTIFIERS:
            return ""
        return "given names differ"
    return ""


def operator_veto(a: Profile, b: Profile) -> str:
    """An operator's split between them: it holds whatever the evidence says."""
    split = kept_apart(a.marks, b.marks)
    return "" if split is None else f"an operator split them apart (override {split})"


def _names_meet(a: Profile, b: Profile) -> bool:
    """Whether the given names could be one person's. A veto needs proof, and a given name
    field often holds something else: a typo or a short form of the name, the surname alone,
    the two fields swapped ("Kelly Dave" for Dave Kelly), or a whole display name run
    together ("annawright")."""
    if any(given_names_may_meet(x, y) for x in a.given_names for y in b.given_names):
        return True
    return _crossed(a, b) or _crossed(b, a)


def _crossed(a: Profile, b: Profile) -> bool:
    """`a`'s given name field holds `b`'s surname (alone or swapped), or all of `b`'s name."""
    for given in a.given_names:
        if any(surnames_agree(given, s) for s in b.surnames):
            if not a.surnames:
                return True
            if any(given_names_may_meet(s, g) for s in a.surnames for g in b.given_names):
                return True
        for other in b.given_names or {""}:
            if any(display_name_holds(given, other, s) for s in b.surnames or {""}):
                return True
    return False


def corroborate(a: Profile, b: Profile) -> bool:
    """Positive evidence beyond a shared identifier: same birth date, or same full name."""
    if any(dobs_agree(x, y) for x in a.dobs for y in b.dobs):
        return True
    names = any(given_names_agree(x, y) for x in a.given_names for y in b.given_names)
    return names and any(surnames_agree(x, y) for x in a.surnames for y in b.surnames)


def slot(ident: Identifier) -> tuple[IdentifierKind, str]:
    """Where values compete: a handle only with handles on its platform, other kinds with
    their kind."""
    if ident.kind is IdentifierKind.SOCIAL_HANDLE:
        return ident.kind, ident.value.split(":", 1)[0]
    return ident.kind, ""


def differing(a: Profile, b: Profile) -> set[IdentifierKind]:
    """Kinds of identifier both hold with no value in common: an email each, but not the same
    one. Weak for a kind people hold several of, but evidence all the same."""
    slots_a = {slot(i) for i in a.identifiers}
    slots_b = {slot(i) for i in b.identifiers}
    shared = {slot(i) for i in a.identifiers & b.identifiers}
    return {kind for kind, _ in (slots_a & slots_b) - shared}
