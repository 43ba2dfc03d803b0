"""``discreet recommend``, ``explain`` and ``interests``: the Engine from the shell."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from discreet.cli._command import UsageError, add_command, positive_int
from discreet.cli._engine import open_engine
from discreet.cli._keys import add_passphrase_options
from discreet.cli._output import emit
from discreet.errors import UnknownCategoryError
from discreet.i18n import _
from discreet.rank.records import Interest


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{value!r} is not a date like 2024-05-31").format(value=value)
        ) from None


def cmd_recommend(args: argparse.Namespace) -> int:
    """Print the ranked items with their reasons."""
    with open_engine(args) as engine:
        try:
            results = engine.recommend(
                args.k,
                category=args.category,
                language=args.language,
                created_after=args.after,
                created_before=args.before,
            )
        except UnknownCategoryError as exc:
            raise UsageError(str(exc)) from None
    lines = []
    for position, rec in enumerate(results, start=1):
        lines.append(f"{position:>2}. {rec.title}  [{rec.item_id}]")
        lines += [f"      {r.text}" for r in rec.reasons]
    emit(args, {"results": [r.to_json() for r in results]}, lines or [_("nothing to recommend")])
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Why an item ranks where it does."""
    with open_engine(args) as engine:
        why = engine.explain(args.item)
    c = why.components
    lines = [
        f"{why.title}  [{why.item_id}]",
        _(
            "  score {score:.3f} = similarity {similarity:.3f} + "
            "popularity {popularity:.3f} + freshness {freshness:.3f}"
        ).format(
            score=why.score, similarity=c.similarity, popularity=c.popularity, freshness=c.freshness
        )
        + (
            ""
            if c.collaborative is None
            else _(" + collaborative {value:.3f}").format(value=c.collaborative)
        ),
        _("  left out: {excluded}").format(excluded=why.excluded)
        if why.excluded
        else _("  rank: {rank}").format(rank=why.rank),
        *(f"  {r.text}" for r in why.reasons),
    ]
    emit(args, why.to_json(), lines)
    return 0


def cmd_interests(args: argparse.Namespace) -> int:
    """Show what the profile infers, or change a control."""
    if bool(args.action) != bool(args.category):
        raise UsageError(_("give both an action and a category, e.g. 'interests mute politics'"))
    with open_engine(args) as engine:
        if args.action:
            controls = {
                "mute": engine.mute,
                "unmute": engine.unmute,
                "opt-in": engine.opt_in,
                "opt-out": engine.opt_out,
            }
            controls[args.action](args.category)
        interests = engine.interests()
    doc = {
        "interests": [
            {
                "category": i.category,
                "label": i.label,
                "weight": round(i.weight, 4),
                "muted": i.muted,
                "sensitive": i.sensitive,
                "opted_in": i.opted_in,
            }
            for i in interests
        ]
    }
    width = max((len(i.category) for i in interests), default=0)
    lines = [
        f"{i.category:<{width}}  {i.label:<28} {i.weight:>7.2f}"
        + (_("  (muted)") if i.muted else "")
        + (_interest_consent(i) if i.sensitive else "")
        for i in interests
    ]
    if args.action:
        lines.insert(0, f"{args.action}: {args.category}")
    emit(args, doc, lines)
    return 0


def _interest_consent(interest: Interest) -> str:
    """A sensitive category's state: opted in, or kept out until the user opts in."""
    if interest.opted_in:
        return _("  (sensitive, opted in)")
    return _("  (sensitive, kept out: 'interests opt-in {category}')").format(
        category=interest.category
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``recommend``, ``explain`` and ``interests``."""
    p = add_command(
        sub,
        "recommend",
        common,
        help=_("ranked items, each with its reasons"),
        example="discreet recommend -k 5 --category crime",
        handler=cmd_recommend,
    )
    p.add_argument("-k", type=positive_int, default=10, help=_("how many, from 1 (default 10)"))
    p.add_argument(
        "--category", metavar="C", help=_("only items in this category (its id or label)")
    )
    p.add_argument(
        "--language",
        metavar="TAG",
        help=_("only items in this language; es also keeps es-MX (BCP 47 prefix)"),
    )
    p.add_argument("--after", type=_date, metavar="DATE", help=_("only items created on or after"))
    p.add_argument(
        "--before", type=_date, metavar="DATE", help=_("only items created on or before")
    )
    add_passphrase_options(p)

    p = add_command(
        sub,
        "explain",
        common,
        help=_("why an item ranks where it does"),
        example="discreet explain lb-0042",
        handler=cmd_explain,
    )
    p.add_argument("item", metavar="ITEM")
    add_passphrase_options(p)

    p = add_command(
        sub,
        "interests",
        common,
        help=_("what your profile infers, and the controls"),
        example="discreet interests mute politics",
        handler=cmd_interests,
    )
    p.add_argument("action", nargs="?", choices=("mute", "unmute", "opt-in", "opt-out"))
    p.add_argument(
        "category", nargs="?", metavar="CATEGORY", help=_("a category's id or its label")
    )
    add_passphrase_options(p)
