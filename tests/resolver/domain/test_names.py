"""When given names prove two people: a veto needs proof, and the field often holds a typo, a
short form, the surname or a whole display name."""

from __future__ import annotations

import pytest

from idres.resolver.domain.names import display_name_holds, given_names_may_meet
from idres.resolver.domain.profiles import Profile, contradict
from idres.resolver.domain.records import Attributes


def person(given: str, surname: str = "") -> Profile:
    p = Profile("", 0)
    p.add(Attributes(given_name=given, surname=surname))
    return p


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jenifer", "Jennifer"),  # a letter lost
        ("Mrak", "Mark"),  # two letters swapped
        ("Mat", "Matthew"),  # a prefix
        ("R.", "Bob"),  # the initial of a nickname's formal name
        ("Robrt", "Bobby"),  # a typo of the formal name of a nickname
    ],
)
def test_a_typed_or_shortened_name_may_be_the_same(a: str, b: str) -> None:
    assert given_names_may_meet(a, b) and given_names_may_meet(b, a)


@pytest.mark.parametrize(("a", "b"), [("Chloe", "Jack"), ("Paul", "Tracy"), ("Ann", "Ian")])
def test_different_names_do_not_meet(a: str, b: str) -> None:
    assert not given_names_may_meet(a, b)


def test_a_whole_name_run_together_holds_the_name() -> None:
    assert display_name_holds("annawright", "Anna", "Wright")
    assert display_name_holds("TheJoeBloggs", "Joe", "Bloggs")
    assert display_name_holds("jwatson", "Julia", "Watson")  # initial and surname
    assert not display_name_holds("kwatson", "Julia", "Watson")
    assert not display_name_holds("Anna", "Anna", "Wright")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (person("Okafor"), person("Grace", "Okafor")),  # the surname in the given slot
        (person("Hughes", "Gaby"), person("Gary", "Hughes")),  # swapped, with a typo
        (person("gracebrennan"), person("Grace", "Brennan")),
    ],
)
def test_a_given_name_field_holding_something_else_vetoes_nobody(a: Profile, b: Profile) -> None:
    assert contradict(a, b) == "" and contradict(b, a) == ""


def test_two_people_of_one_household_are_still_told_apart() -> None:
    assert contradict(person("Chloe", "Parker"), person("Daniel", "Parker")) == "given names differ"
    assert contradict(person("Parker"), person("Daniel", "Jones")) == "given names differ"
