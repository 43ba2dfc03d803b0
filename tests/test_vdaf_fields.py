"""Field64 and Field128 vectors against plain Python integers modulo the prime, and the
NTT and Lagrange-basis routines against their textbook definitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discreet.vdaf import FIELD64, FIELD128, Field, VdafDecodeError, polys

FIELDS = [FIELD64, FIELD128]
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)


def _edges(field: Field) -> list[int]:
    p = field.modulus
    words = [0, 1, 2, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**96, 2**127]
    near_p = [p - 1, p - 2, p - 2**32, p - 2**64, 28 * 2**64 - 1, 28 * 2**64]
    return sorted({v % p for v in words + near_p})


def elements(field: Field) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, field.modulus - 1), st.sampled_from(_edges(field)))


def vectors(field: Field, n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(elements(field), min_size=n, max_size=n)


@pytest.mark.parametrize("field", FIELDS, ids=str)
@PROPERTY
@given(data=st.data())
def test_vectorised_arithmetic_matches_python_ints(field: Field, data: st.DataObject) -> None:
    p = field.modulus
    n = data.draw(st.integers(1, 40))
    a, b = data.draw(vectors(field, n)), data.draw(vectors(field, n))
    va, vb = field.from_ints(a), field.from_ints(b)
    assert field.to_ints(field.add(va, vb)) == [(x + y) % p for x, y in zip(a, b, strict=True)]
    assert field.to_ints(field.sub(va, vb)) == [(x - y) % p for x, y in zip(a, b, strict=True)]
    assert field.to_ints(field.mul(va, vb)) == [x * y % p for x, y in zip(a, b, strict=True)]
    assert field.to_ints(field.neg(va)) == [-x % p for x in a]
    assert field.to_ints(field.sum(va)) == [sum(a) % p]
    assert field.to_ints(field.mul(va, field.scalar(b[0]))) == [x * b[0] % p for x in a]
    assert field.to_ints(field.powers(va[:1], 5)) == [pow(a[0], k, p) for k in range(1, 6)]


@pytest.mark.parametrize("field", FIELDS, ids=str)
def test_multiplication_at_the_word_boundaries(field: Field) -> None:
    p = field.modulus
    edges = _edges(field)
    a = [x for x in edges for _ in edges]
    b = [y for _ in edges for y in edges]
    got = field.to_ints(field.mul(field.from_ints(a), field.from_ints(b)))
    assert got == [x * y % p for x, y in zip(a, b, strict=True)]
    assert field.to_ints(field.add(field.from_ints(a), field.from_ints(b))) == [
        (x + y) % p for x, y in zip(a, b, strict=True)
    ]


@pytest.mark.parametrize("field", FIELDS, ids=str)
@PROPERTY
@given(data=st.data())
def test_encoding_is_little_endian_and_round_trips(field: Field, data: st.DataObject) -> None:
    values = data.draw(vectors(field, data.draw(st.integers(0, 20))))
    encoded = field.encode(field.from_ints(values))
    assert encoded == b"".join(v.to_bytes(field.encoded_size, "little") for v in values)
    assert field.to_ints(field.decode(encoded)) == values


@pytest.mark.parametrize("field", FIELDS, ids=str)
def test_decoding_refuses_unreduced_elements_and_ragged_lengths(field: Field) -> None:
    size = field.encoded_size
    for bad in (field.modulus, 2 ** (8 * size) - 1):
        with pytest.raises(VdafDecodeError, match="below the modulus"):
            field.decode(bytes(size) + bad.to_bytes(size, "little"))
    with pytest.raises(VdafDecodeError, match="multiple"):
        field.decode(bytes(size + 1))
    # The XOF's rejection sampling drops them instead, in order.
    candidates = (3).to_bytes(size, "little") + field.modulus.to_bytes(size, "little")
    assert field.to_ints(field.accept(candidates + (5).to_bytes(size, "little"))) == [3, 5]


def _naive(field: Field, coeffs: list[int], points: list[int]) -> list[int]:
    p = field.modulus
    return [sum(c * pow(x, k, p) for k, c in enumerate(coeffs)) % p for x in points]


@pytest.mark.parametrize("field", FIELDS, ids=str)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data())
def test_ntt_and_lagrange_basis_match_the_definitions(field: Field, data: st.DataObject) -> None:
    p = field.modulus
    n = 2 ** data.draw(st.integers(0, 4))
    coeffs = data.draw(vectors(field, n))
    w = field.root(n)
    points = [pow(w, i, p) for i in range(n)]
    values = _naive(field, coeffs, points)
    assert field.to_ints(polys.ntt(field, field.from_ints(coeffs), n)) == values
    assert field.to_ints(polys.inv_ntt(field, field.from_ints(values), n)) == coeffs
    coset = [field.root(2 * n) * x % p for x in points]
    got = polys.ntt(field, field.from_ints(coeffs), n, coset=True)
    assert field.to_ints(got) == _naive(field, coeffs, coset)
    doubled = [pow(field.root(2 * n), i, p) for i in range(2 * n)]
    batch = field.reshape(field.concat([field.from_ints(values)] * 2), (2, n))
    assert field.to_ints(polys.double_evaluations(field, batch)) == 2 * _naive(
        field, coeffs, doubled
    )
    t = data.draw(elements(field))
    assert field.to_ints(polys.lagrange_eval(field, batch, [t, t])) == 2 * _naive(
        field, coeffs, [t]
    )
    # A polynomial of degree below m is fixed by its first m values.
    m = data.draw(st.integers(1, n))
    low = _naive(field, coeffs[:m], points)
    extended = polys.extend_values(field, field.from_ints(low[:m]), n)
    assert field.to_ints(extended) == low
