"""Password rules (length, strength, personal words, confirm) and argon2 hashing."""

from __future__ import annotations

import math

import pytest
from zxcvbn import zxcvbn

from portal_app.services import passwords
from portal_app.services.errors import InvalidInput

STRONG = "quiet lantern orbit 73 meadow"


def test_strong_password_passes():
    passwords.check_password(STRONG, confirm=STRONG, personal=("Maria", "Lopez"))


def test_shorter_than_ten_is_refused():
    with pytest.raises(InvalidInput, match="at least 10") as info:
        passwords.check_password("x7#Qp!2z9")  # 9 characters, otherwise random
    assert info.value.field == "password"


def test_exactly_ten_and_exactly_128_are_allowed():
    passwords.check_password("xQ7#pL2!zR")
    passwords.check_password(("orbit lantern quiet meadow 73 " * 5)[:128])


def test_longer_than_128_is_refused():
    with pytest.raises(InvalidInput, match="at most 128"):
        passwords.check_password("orbit lantern quiet meadow 73 " * 5)


def test_one_megabyte_is_refused_quickly():
    with pytest.raises(InvalidInput, match="at most 128"):
        passwords.check_password("a" * (1024 * 1024))


def test_nul_is_refused():
    with pytest.raises(InvalidInput, match="not allowed"):
        passwords.check_password("quiet lantern\x00orbit 73")


@pytest.mark.parametrize("weak", ["password123", "aaaaaaaaaaaa", "qwertyuiop", "1234567890"])
def test_weak_passwords_are_refused_with_a_reason(weak):
    with pytest.raises(InvalidInput, match="too weak") as info:
        passwords.check_password(weak)
    assert info.value.field == "password"


def test_score_two_is_still_too_weak():
    assert zxcvbn("letmein2020!")["score"] == 2
    with pytest.raises(InvalidInput, match="too weak"):
        passwords.check_password("letmein2020!")


def test_no_composition_rules():
    # Only lower-case letters and spaces: long and unguessable is enough.
    passwords.check_password("copper walrus gently sings")


@pytest.mark.parametrize("password", [
    "Lopezfamily!2024xyz",            # last name
    "maria-was-here-9182",            # first name
    "riverside clinic rocks 77",      # practice name word
    "mlopez1980@Example!!",           # email local part
])
def test_password_built_from_personal_words_is_refused(password):
    personal = ("Maria", "Lopez", "mlopez1980@example.com", "Riverside Family Practice")
    with pytest.raises(InvalidInput, match="name, email or the practice"):
        passwords.check_password(password, personal=personal)


def test_personal_words_are_not_refused_for_someone_else():
    passwords.check_password("Lopezfamily!2024xyz", personal=("Ann", "Smith"))


def test_confirm_mismatch_goes_to_the_confirm_field():
    with pytest.raises(InvalidInput, match="do not match") as info:
        passwords.check_password(STRONG, confirm=STRONG + "x")
    assert info.value.field == "confirm"


def test_custom_field_name_is_kept():
    with pytest.raises(InvalidInput) as info:
        passwords.check_password("short", field="new_password")
    assert info.value.field == "new_password"


def test_hash_is_argon2id_and_verifies():
    hashed = passwords.hash_password(STRONG)
    assert hashed.startswith("$argon2id$")
    assert STRONG not in hashed
    assert passwords.verify_password(STRONG, hashed)
    assert not passwords.verify_password(STRONG + "!", hashed)


def test_same_password_hashes_differently():
    assert passwords.hash_password(STRONG) != passwords.hash_password(STRONG)


def test_verify_without_hash_or_with_garbage_is_false():
    assert passwords.verify_password(STRONG, None) is False
    assert passwords.verify_password(STRONG, "") is False
    assert passwords.verify_password(STRONG, "not-a-hash") is False


async def test_async_hashing_runs_off_the_loop():
    hashed = await passwords.hash_password_async(STRONG)
    assert await passwords.verify_password_async(STRONG, hashed)
    assert not await passwords.verify_password_async("wrong one entirely", hashed)


def test_generated_passwords_are_random_strong_and_free_of_look_alikes():
    made = {passwords.generate(personal=("maria", "lopez")) for _ in range(20)}
    assert len(made) == 20
    for plain in made:
        passwords.check_password(plain, personal=("maria", "lopez"))
        assert len(plain) == 24 and not set(plain) & set("0O1lI")
        assert plain == plain.upper()  # one case: nothing to say as "capital" or "small"


def test_the_generated_alphabet_reads_aloud_and_is_as_strong_as_before():
    alphabet = passwords.GENERATED_ALPHABET
    assert len(set(alphabet)) == len(alphabet)
    assert alphabet == alphabet.upper() and not set(alphabet) & set("0O1IL")
    # The worst sound-alikes on a phone line keep only one member each.
    for pair in ("BD", "BP", "BV", "VZ", "FS", "QU", "GJ"):
        assert not set(pair) <= set(alphabet), pair
    strength = passwords.GENERATED_GROUPS * passwords.GENERATED_GROUP_LENGTH * math.log2(len(alphabet))
    assert strength >= 16 * math.log2(55)  # the 16 mixed-case characters of before
