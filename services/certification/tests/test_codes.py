"""Verification codes: their shape, and every symbol drawn at every place."""

from __future__ import annotations

from wps_certification.codes import ALPHABET, new_verification_code, normalise


def test_a_code_is_four_groups_of_four_symbols_and_reads_back_as_itself() -> None:
    code = new_verification_code()
    assert [len(group) for group in code.split("-")] == [4, 4, 4, 4]
    assert normalise(code) == code
    assert normalise(code.lower().replace("-", " ")) == code


def test_each_place_draws_from_the_whole_alphabet() -> None:
    # 2,000 codes leave a symbol out of a place with a chance of about 1 in 10^25.
    codes = [new_verification_code().replace("-", "") for _ in range(2000)]
    for place in range(16):
        assert {code[place] for code in codes} == set(ALPHABET)
    assert len(set(codes)) == len(codes)
