"""Settings from the environment: every malformed value is named, none silently defaulted."""

from __future__ import annotations

import pytest

from idres.resolver.domain.errors import ValidationError
from idres.resolver.settings import Settings


@pytest.mark.parametrize(("raw", "expected"), [("true", True), (" OFF ", False), ("1", True)])
def test_booleans_read_the_usual_words(raw: str, expected: bool) -> None:
    assert Settings.from_env({"IDRES_USE_MODEL": raw}).use_model is expected


def test_a_malformed_boolean_is_named_not_taken_for_false() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({"IDRES_VECTOR_INDEX": "ture"})
    [violation] = caught.value.violations
    assert violation.field == "IDRES_VECTOR_INDEX" and "not a boolean" in violation.description


def test_the_suppression_key_is_never_printed() -> None:
    settings = Settings.from_env({"IDRES_SUPPRESSION_KEY": "s3cret-key"})
    assert settings.suppression_key == "s3cret-key" and "s3cret" not in repr(settings)


def test_the_connection_wait_must_be_positive() -> None:
    assert Settings.from_env({"IDRES_POOL_WAIT_S": "0.5"}).pool_wait_s == 0.5
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({"IDRES_POOL_WAIT_S": "0"})
    [violation] = caught.value.violations
    assert violation.field == "IDRES_POOL_WAIT_S"
