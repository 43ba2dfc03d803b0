"""The registry of frequency oracles: the one place that maps names and codes to classes.

A new mechanism is one module implementing
:class:`~discreet.protocol.oracle.FrequencyOracle` and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discreet.protocol.grr import RandomisedResponse
from discreet.protocol.lh import MAX_HASH_BITS, LocalHashing
from discreet.protocol.oracle import MAX_DOMAIN, FrequencyOracle

#: Every mechanism, by the name the manifest uses.
MECHANISMS: Mapping[str, type[FrequencyOracle]] = {
    cls.mechanism: cls for cls in (RandomisedResponse, LocalHashing)
}
_BY_CODE: Mapping[int, type[FrequencyOracle]] = {cls.code: cls for cls in MECHANISMS.values()}


def mechanism_code(name: str) -> int:
    """The one-byte wire code of a mechanism; raise ``ValueError`` if unknown."""
    try:
        return MECHANISMS[name].code
    except KeyError:
        raise ValueError(f"unknown mechanism {name!r}") from None


def mechanism_name(code: int) -> str:
    """The mechanism a wire code stands for; raise ``ValueError`` if unknown."""
    try:
        return _BY_CODE[code].mechanism
    except KeyError:
        raise ValueError(f"unknown mechanism code {code}") from None


def oracle_from_json(data: Any) -> FrequencyOracle:
    """Parse an oracle's parameters; raise ``ValueError`` if malformed.

    >>> oracle_from_json({"mechanism": "grr", "epsilon": 1.0, "domain_size": 5})
    RandomisedResponse(epsilon=1.0, domain_size=5)
    """
    if not isinstance(data, Mapping):
        raise ValueError("malformed oracle parameters")
    cls = MECHANISMS.get(data.get("mechanism"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown mechanism {data.get('mechanism')!r}")
    try:
        return cls.from_fields(data)
    except KeyError as exc:
        raise ValueError(f"oracle parameters lack {exc}") from None


def choose_oracle(domain_size: int, epsilon: float) -> FrequencyOracle:
    """The oracle with the least variance that fits a 32-bit payload.

    >>> choose_oracle(17, 2.0).mechanism, choose_oracle(10_000, 1.0).mechanism
    ('grr', 'lh')
    """
    candidates: list[FrequencyOracle] = []
    if domain_size <= MAX_DOMAIN:
        candidates.append(RandomisedResponse(epsilon, domain_size))
    for m in range(1, MAX_HASH_BITS + 1):
        try:
            candidates.append(LocalHashing(epsilon, domain_size, m))
        except ValueError:
            break
    if not candidates:
        raise ValueError("the domain must have 2 to 2^20 values")
    return min(candidates, key=lambda c: (c.variance(1), c.payload_bits))
