"""Form errors: each field's first error, in the page's language, from the API's schemas."""

import pytest
from fastapi import Request
from pydantic import ValidationError

from backend.panel.forms import field_errors
from shared.schemas import AdminCreate, LessonCreate


def _request(language: str) -> Request:
    return Request({"type": "http", "headers": [(b"accept-language", language.encode())], "state": {}})


@pytest.mark.parametrize(
    ("language", "title_error", "price_error"),
    [
        ("en", "This field is required.", "Enter a whole number."),
        ("ru", "Это поле обязательно.", "Введите целое число."),
    ],
)
def test_field_errors_are_translated(language: str, title_error: str, price_error: str):
    with pytest.raises(ValidationError) as raised:
        LessonCreate.model_validate({"price": "ten"})
    errors = field_errors(_request(language), raised.value)
    assert errors["title"] == title_error
    assert errors["price"] == price_error


def test_limits_are_named():
    with pytest.raises(ValidationError) as raised:
        LessonCreate.model_validate({"title": "x" * 1000, "price": 10})
    assert field_errors(_request("en"), raised.value) == {"title": "Enter at most 200 characters."}


def test_constrained_passwords_name_their_limit():
    with pytest.raises(ValidationError) as raised:
        AdminCreate.model_validate({"username": "maria", "role": "support", "password": "short"})
    assert field_errors(_request("en"), raised.value) == {"password": "Enter at least 10 characters."}
