"""Sending queued reports: each on its own, after its own random delay, counted once.

Two reports of one device must not arrive together, or the service could
pair them. So each report travels alone: one request per report, on a
connection of its own (no keep-alive connection, cookie or anything else
carries over from one report to the next), after a delay of its own, drawn
uniformly from ``[0, max_delay)`` seconds by a generator seeded from the OS
CSPRNG. ``n`` queued reports (say, both kinds of several weeks, after a time
offline) take at most ``n * max_delay`` seconds.

Reports wait in the encrypted outbox until the service answers; the answer
decides what happens to each:

=====================================  ===========================================
answer                                 the report
=====================================  ===========================================
2xx with the service's JSON            removed; ledger entry marked ``sent``
422 (the content is refused: a stale   dropped; ledger entry marked ``rejected``
week, an unknown catalog version) or   with the service's reason
413 (too big)
any other 4xx, a 1xx or 3xx left       kept queued, and so is every report after
over, a 2xx that is not the service's  it; :class:`SourceUnavailableError` names
(a captive portal), an oversized       the status (a wrong ``--to`` address, a
answer                                 proxy or a login page is no verdict on
                                       the reports)
no answer (offline, timeouts, 5xx,     kept queued, and so is every report after
408, 429, after the retries)           it; :class:`SourceUnavailableError` names
                                       the cause
=====================================  ===========================================

Each verdict is passed on at once (``settled``, which saves the profile), so
that a crash between two reports neither loses one nor sends a settled one
again; a report whose answer was lost is sent again with the same token, and
the service counts it once. Its ε is spent either way: the ledger entry was
made before anything could be sent. The exchange goes through the device's
one HTTP client (:mod:`discreet.sync.http`): its retries, its timeouts, and
proxies from the standard environment variables (``https_proxy``, ...).

Secure-aggregation contributions wait in the same outbox and travel the same
way, one alone per request after a delay of its own, but to the leader the
catalog names (:func:`send_contributions`); each sender leaves the other's
reports queued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from discreet.errors import SourceUnavailableError
from discreet.i18n import _
from discreet.profile.model import CONTRIBUTION_KINDS, PendingReport, Profile
from discreet.protocol.randomness import production_rng
from discreet.protocol.wire import encode_batch
from discreet.sync.http import (
    DeviceHttpClient,
    PoolTransport,
    Reply,
    RetryPolicy,
    Transport,
)


@dataclass(frozen=True)
class SendResult:
    """What one attempt did."""

    sent: int
    duplicates: int
    rejected: int
    reason: str = ""


#: The answers that are a verdict on the report's content (see the module docstring).
CONTENT_REFUSED = 422
TOO_BIG = 413


def _settle(profile: Profile, report: PendingReport, status: str, reason: str = "") -> None:
    """Take ``report`` out of the outbox and mark its ledger entry."""
    profile.outbox = [r for r in profile.outbox if r.token != report.token]
    digest = hashlib.sha256(report.data).hexdigest()
    profile.ledger = [
        dataclasses.replace(e, status=status, reason=reason)
        if e.digest == digest and e.status == "pending"
        else e
        for e in profile.ledger
    ]


def send_reports(
    profile: Profile | Callable[[], Profile],
    url: str,
    *,
    max_delay: float = 30.0,
    timeout: float = 10.0,
    attempts: int = 3,
    rng: np.random.Generator | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Transport | None = None,
    settled: Callable[[], None] = lambda: None,
    guard: AbstractContextManager[object] | None = None,
) -> SendResult:
    """Send the outbox to ``url`` (the service's base URL), one report at a time.

    Each report waits its own random delay (see the module docstring), then
    goes alone, on a fresh connection; its verdict updates the profile in
    place and then ``settled()`` is called (pass the session's ``save``).
    ``profile`` is the profile, or a function returning the current one (an
    engine's, which a kiosk's "forget" replaces: the reports it withdrew are
    not sent).
    Raises :class:`SourceUnavailableError` when the service cannot be reached
    or its answer is no verdict on a report (a wrong address, say); that
    report and the ones after it stay queued. ``rng`` draws the delays and the
    retries' jitter (by default seeded from the OS CSPRNG). ``guard`` (a lock)
    is held whenever the profile is read or changed, and released during the
    delays and the exchanges, so that an app stays responsive; a report
    withdrawn meanwhile (consent revoked) is not sent. ``transport`` replaces
    the network (see :class:`~discreet.sync.http.DeviceHttpClient`); by default
    each report gets a new connection pool, closed after its exchange.
    Secure-aggregation contributions stay queued for :func:`send_contributions`.
    """
    endpoint = _endpoint(url, "/v1/reports")
    destination = _Destination(
        _("the report service"),
        lambda report: endpoint,
        "POST",
        lambda report: report.kind not in CONTRIBUTION_KINDS,
        lambda report: encode_batch([(report.token, report.data)]),
        "application/json",
        _ldp_verdict,
    )
    return _send_each(
        destination, profile, max_delay, timeout, attempts, rng, sleep, transport, settled, guard
    )


def send_contributions(
    profile: Profile | Callable[[], Profile],
    leader_url: str,
    *,
    max_delay: float = 30.0,
    timeout: float = 10.0,
    attempts: int = 3,
    rng: np.random.Generator | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: Transport | None = None,
    settled: Callable[[], None] = lambda: None,
    guard: AbstractContextManager[object] | None = None,
) -> SendResult:
    """Send the queued secure-aggregation contributions to the leader, as
    :func:`send_reports` sends the LDP reports (alone, after a random delay of
    their own, on a fresh connection, each verdict saved at once).

    The leader answers 201 once it stored a contribution; 409 ``replayed`` when
    it already holds this report id (an earlier answer was lost): sent, once;
    400, 413, 422 or another 409 (the week's release has started): refused,
    dropped with the leader's reason. Anything else keeps it queued.
    Each contribution goes to the destination stored with it when it was made (its
    task's URL at the leader), even if the catalog now names another; ``leader_url``
    is for those queued by an older release, which stored none.
    """
    _endpoint(leader_url, "")  # refuse a bad fallback before anything is sent
    destination = _Destination(
        _("the leader"),
        lambda report: _endpoint(report.destination or leader_url, "/v1/secagg/reports"),
        "PUT",
        lambda report: report.kind in CONTRIBUTION_KINDS,
        lambda report: report.data,
        "application/octet-stream",
        _leader_verdict,
    )
    return _send_each(
        destination, profile, max_delay, timeout, attempts, rng, sleep, transport, settled, guard
    )


@dataclass(frozen=True)
class _Verdict:
    """What an answer says about one report: ``sent`` (counted as ``sent`` or as a
    ``duplicate``) or ``rejected`` with the server's reason."""

    status: str
    sent: int = 0
    duplicates: int = 0
    reason: str = ""


@dataclass(frozen=True)
class _Destination:
    """Where one kind of queued report goes, and how an answer is read."""

    name: str
    #: The URL a report goes to.
    endpoint: Callable[[PendingReport], str]
    method: str
    takes: Callable[[PendingReport], bool]
    body: Callable[[PendingReport], bytes]
    content_type: str
    #: The verdict in an answer, or ``None`` if it is none (the report stays queued).
    verdict: Callable[[Reply], _Verdict | None]


def _endpoint(url: str, path: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailableError(
            _("reports are sent to an http(s) address, not {url!r}").format(url=url)
        )
    return url.rstrip("/") + path


def _ldp_verdict(reply: Reply) -> _Verdict | None:
    if reply.status in (CONTENT_REFUSED, TOO_BIG) and not reply.oversized:
        reason = _reason(reply.body) or f"HTTP {reply.status}, the service gave no reason"
        return _Verdict("rejected", reason=reason)
    answer = _json_object(reply.body or b"{}") if reply.ok and not reply.oversized else None
    if answer is None:
        return None
    return _Verdict("sent", _count(answer, "accepted"), _count(answer, "duplicates"))


#: The leader's refusals of a contribution's content (409: a replay, or a week released).
LEADER_REFUSED = (400, 409, TOO_BIG, CONTENT_REFUSED)


def _leader_verdict(reply: Reply) -> _Verdict | None:
    if reply.oversized:
        return None
    if reply.status == 201:
        answer = _json_object(reply.body)
        return _Verdict("sent", 1) if answer and answer.get("accepted") is True else None
    if reply.status in LEADER_REFUSED:
        reason = _reason(reply.body) or f"HTTP {reply.status}, the leader gave no reason"
        if reply.status == 409 and reason.endswith(": replayed"):
            return _Verdict("sent", duplicates=1)  # our own earlier upload was stored
        return _Verdict("rejected", reason=reason)
    return None


def _send_each(
    destination: _Destination,
    profile: Profile | Callable[[], Profile],
    max_delay: float,
    timeout: float,
    attempts: int,
    rng: np.random.Generator | None,
    sleep: Callable[[float], None],
    transport: Transport | None,
    settled: Callable[[], None],
    guard: AbstractContextManager[object] | None,
) -> SendResult:
    """The queued reports ``destination`` takes, one at a time (see :func:`send_reports`)."""
    current = profile if callable(profile) else lambda: profile
    guard = guard if guard is not None else contextlib.nullcontext()
    rng = rng if rng is not None else production_rng()
    with guard:
        queued = [r for r in current().outbox if destination.takes(r)]
    sent = duplicates = rejected = 0
    reasons: list[str] = []
    for report in queued:
        if max_delay > 0:
            sleep(float(rng.uniform(0, max_delay)))  # decorrelate this report from the others
        with guard:
            if report not in current().outbox:
                continue  # withdrawn or settled meanwhile
        reply = _post(destination, report, transport, timeout, attempts, rng, sleep)
        with guard:
            verdict = destination.verdict(reply)
            if verdict is None:
                raise SourceUnavailableError(_not_a_verdict(destination, report, reply))
            _settle(current(), report, verdict.status, verdict.reason)
            settled()
        if verdict.status == "rejected":
            rejected += 1
            if verdict.reason not in reasons:
                reasons.append(verdict.reason)
        sent += verdict.sent
        duplicates += verdict.duplicates
    return SendResult(sent, duplicates, rejected, "; ".join(reasons))


def _post(
    destination: _Destination,
    report: PendingReport,
    transport: Transport | None,
    timeout: float,
    attempts: int,
    rng: np.random.Generator,
    sleep: Callable[[float], None],
) -> Reply:
    """One report, alone, on a connection of its own (retries included)."""
    own = PoolTransport() if transport is None else None
    client = DeviceHttpClient(
        transport=own or transport,
        policy=RetryPolicy(attempts=attempts),
        timeout=timeout,
        rng=rng,
        sleep=sleep,
    )
    try:
        return client.request(
            destination.method,
            destination.endpoint(report),
            body=destination.body(report),
            headers={"Content-Type": destination.content_type, "Connection": "close"},
        )
    except SourceUnavailableError as exc:
        raise SourceUnavailableError(
            _("cannot reach {name} ({exc}); the reports stay queued for next time").format(
                name=destination.name, exc=exc
            )
        ) from exc
    finally:
        if own is not None:
            own.close()


def _not_a_verdict(destination: _Destination, report: PendingReport, reply: Reply) -> str:
    """Why an answer says nothing about the reports, in one line that names the cause."""
    status = reply.status
    if reply.oversized:
        cause = _("an answer far longer than the service's; is this the report service?")
    elif 200 <= status < 300:
        cause = _("an answer that is not the service's (a login page or a proxy, say)")
    elif status in (404, 405):
        cause = _("no report service there; check the address (--to is the service's base URL)")
    elif status in (401, 403, 407):
        cause = _("access refused; a proxy or firewall may be in the way")
    elif 300 <= status < 400:
        cause = _("a redirect that was not followed; check the address")
    else:
        cause = _reason(reply.body) or _("the service gave no reason")
    return _(
        "{name} gave an unexpected answer (HTTP {status} from {endpoint}: {cause}); "
        "the reports stay queued for next time"
    ).format(
        name=destination.name, status=status, endpoint=destination.endpoint(report), cause=cause
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _count(answer: dict[str, Any], key: str) -> int:
    value = answer.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reason(body: bytes) -> str:
    """The service's ``error`` field, if its refusal has one."""
    answer = _json_object(body)
    reason = answer.get("error", "") if answer else ""
    return reason.strip()[:200] if isinstance(reason, str) else ""
