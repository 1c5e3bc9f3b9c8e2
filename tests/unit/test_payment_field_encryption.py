"""Sealed fields decrypt only with their key and their context; keys rotate; no key leaks."""

from __future__ import annotations

import base64
from typing import Any

import bson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payment.storage.field_encryption import (
    DecryptionError,
    Keyring,
    KeyringError,
    UnknownKeyIdError,
    generate_key,
    seal,
    unseal,
)

K1, K2 = generate_key(), generate_key()
OLD = Keyring.parse(f"k1:{K1}")
ROTATED = Keyring.parse(f"k2:{K2}, k1:{K1}")
CONTEXT = "pay_1:ip_address"


def test_a_sealed_value_unseals_to_the_original() -> None:
    sealed = seal(OLD, "203.0.113.7", context=CONTEXT)

    assert unseal(OLD, sealed, context=CONTEXT) == "203.0.113.7"
    assert sealed["key_id"] == "k1"
    assert b"203.0.113.7" not in sealed["ciphertext"]


def test_the_same_value_sealed_twice_differs() -> None:
    first, second = (seal(OLD, "203.0.113.7", context=CONTEXT) for _ in range(2))

    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


def test_a_sealed_value_survives_a_bson_round_trip() -> None:
    stored = bson.decode(bson.encode({"ip_address": seal(OLD, "203.0.113.7", context=CONTEXT)}))

    assert unseal(OLD, stored["ip_address"], context=CONTEXT) == "203.0.113.7"


@pytest.mark.parametrize("part", ["nonce", "ciphertext"])
def test_a_tampered_value_does_not_decrypt(part: str) -> None:
    stored: dict[str, Any] = dict(seal(OLD, "203.0.113.7", context=CONTEXT))
    flipped = bytearray(stored[part])
    flipped[-1] ^= 1

    with pytest.raises(DecryptionError, match="tampered"):
        unseal(OLD, stored | {part: bytes(flipped)}, context=CONTEXT)


@pytest.mark.parametrize("elsewhere", ["pay_2:ip_address", "pay_1:user_agent"])
def test_a_value_copied_to_another_record_or_field_does_not_decrypt(elsewhere: str) -> None:
    sealed = seal(OLD, "203.0.113.7", context=CONTEXT)

    with pytest.raises(DecryptionError):
        unseal(OLD, sealed, context=elsewhere)


@pytest.mark.parametrize(
    "malformed",
    [{"key_id": "k1"}, {"key_id": "k1", "nonce": b"short", "ciphertext": b"x" * 20}],
    ids=["missing-parts", "short-nonce"],
)
def test_a_malformed_stored_value_raises_a_decryption_error(malformed: dict[str, object]) -> None:
    with pytest.raises(DecryptionError):
        unseal(OLD, malformed, context=CONTEXT)


def test_values_sealed_before_rotation_still_decrypt_and_new_ones_use_the_new_key() -> None:
    before = seal(OLD, "Mozilla/5.0", context=CONTEXT)
    after = seal(ROTATED, "Mozilla/5.0", context=CONTEXT)

    assert unseal(ROTATED, before, context=CONTEXT) == "Mozilla/5.0"
    assert after["key_id"] == "k2"
    assert unseal(ROTATED, after, context=CONTEXT) == "Mozilla/5.0"


def test_a_value_under_a_retired_key_names_the_missing_id() -> None:
    sealed = seal(ROTATED, "Mozilla/5.0", context=CONTEXT)

    with pytest.raises(UnknownKeyIdError, match="no key 'k2'"):
        unseal(OLD, sealed, context=CONTEXT)


def test_a_context_is_required() -> None:
    with pytest.raises(ValueError, match="context"):
        seal(OLD, "203.0.113.7", context="")


def test_a_keyring_describes_itself_by_ids_only() -> None:
    assert ROTATED.describe() == "k2, k1"
    assert ROTATED.active == "k2"
    for shown in (ROTATED.describe(), repr(ROTATED), str(ROTATED)):
        assert K1 not in shown
        assert K2 not in shown


def _short_key() -> str:
    return base64.b64encode(b"sixteen byte key").decode()


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("", "at least one"),
        (" , ", "at least one"),
        (K1, "entry 1 needs the form 'id:base64-key'"),
        (f"k2:{K2},{K1}:k1", "entry 2 needs the form"),
        (f"k 1:{K1}", "entry 1 needs the form"),
        (f"k1:{K1[:-2]}!!", "entry 1: key 'k1' is not valid base64"),
        (f"k1:{_short_key()}", "entry 1: key 'k1' must be 32 bytes, not 16"),
        (f"k1:{K1},k1:{K2}", "entry 2: key id 'k1' appears twice"),
    ],
    ids=["empty", "blank", "no-id", "key-and-id-swapped", "bad-id", "bad-base64", "16-bytes",
         "duplicate-id"],
)  # fmt: skip
def test_a_malformed_keyring_setting_names_the_problem_but_no_key(
    setting: str, problem: str
) -> None:
    with pytest.raises(KeyringError) as raised:
        Keyring.parse(setting)

    message = str(raised.value)
    assert problem in message
    # No chained exception either: a traceback shows nothing of the setting.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__
    for key in (K1, K2, _short_key(), K1[:-2]):
        assert key not in message


def test_generated_keys_are_fresh_32_byte_base64_keys() -> None:
    keys = {generate_key() for _ in range(20)}

    assert len(keys) == 20
    assert all(len(base64.b64decode(key, validate=True)) == 32 for key in keys)


@given(plaintext=st.text(), context=st.text(min_size=1))
def test_any_text_round_trips_under_any_context(plaintext: str, context: str) -> None:
    assert unseal(ROTATED, seal(ROTATED, plaintext, context=context), context=context) == plaintext
