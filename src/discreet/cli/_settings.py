"""``serve``'s settings: a flag, else a ``DISCREET_SERVE_*`` variable, else the config file.

Every setting of ``serve`` can come from three places, first to last:

1. its flag (``--max-connections 200``);
2. an environment variable, ``DISCREET_SERVE_`` and the setting's name in capitals
   (``DISCREET_SERVE_MAX_CONNECTIONS=200``);
3. a TOML file named by ``--config FILE`` or ``DISCREET_SERVE_CONFIG``, whose keys are
   the flags' names without the dashes in front (``max-connections = 200``);

and otherwise its default. A value from the environment or the file is checked
as the flag's would be; a wrong one, an unknown key or an unreadable file is a
:class:`ServiceConfigError` that names where the value came from.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discreet.errors import ServiceConfigError
from discreet.i18n import _

ENV_PREFIX = "DISCREET_SERVE_"
CONFIG_ENV = "DISCREET_SERVE_CONFIG"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def boolean(value: str) -> bool:
    """A yes/no setting: 1, true, yes, on or 0, false, no, off (any case)."""
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise argparse.ArgumentTypeError(_("{value!r} is not true or false").format(value=value))


@dataclass(frozen=True)
class Setting:
    """One setting: where it goes in the arguments, how it is checked, its default."""

    dest: str
    key: str
    convert: Callable[[str], Any]
    default: Any

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return ENV_PREFIX + self.dest.upper()


class ServeSettings:
    """The settings of one command, declared as its flags are added."""

    def __init__(self) -> None:
        self.settings: list[Setting] = []

    def add(
        self,
        parser: argparse.ArgumentParser,
        flag: str,
        *,
        default: Any = None,
        type: Callable[[str], Any] = str,
        help: str | None = None,
        **options: Any,
    ) -> None:
        """Add ``flag`` to ``parser`` and declare it a setting (``options`` go to argparse).

        The flag's own default is ``None``, so that a flag not given is known as
        such; the setting's ``default`` applies once no other source has it.
        """
        dest = options.pop("dest", flag.lstrip("-").replace("-", "_"))
        convert = boolean if options.get("action") == "store_false" else type
        if "choices" in options:
            convert = _one_of(tuple(options["choices"]), convert)
        if options.get("action") is None:
            options["type"] = type
        key = dest.replace("_", "-")
        where = _("environment {env}").format(env=ENV_PREFIX + dest.upper())
        shown = f"{help} " if help else ""
        if default is not None and options.get("action") is None:
            shown += _("(default {default}; {where})").format(default=default, where=where)
        else:
            shown += f"({where})"
        parser.add_argument(flag, dest=dest, default=None, help=shown, **options)
        self.settings.append(Setting(dest, key, convert, default))

    def resolve(self, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
        """Fill in each setting not given as a flag: from the environment, the file, the default."""
        environ = os.environ if environ is None else environ
        config = getattr(args, "config", None) or environ.get(CONFIG_ENV)
        document = _read_config(Path(config)) if config else {}
        known = {s.key for s in self.settings}
        unknown = sorted(set(document) - known)
        if unknown:
            raise ServiceConfigError(
                _("{file}: unknown setting {key}; the settings are the flags of 'serve'").format(
                    file=config, key=unknown[0]
                )
            )
        for setting in self.settings:
            if getattr(args, setting.dest) is not None:
                continue
            if setting.env in environ:
                value = _checked(setting, environ[setting.env], setting.env)
            elif setting.key in document:
                value = _checked(setting, document[setting.key], f"{config}: {setting.key}")
            else:
                value = setting.default
            setattr(args, setting.dest, value)


def _checked(setting: Setting, value: Any, where: str) -> Any:
    """``value`` checked and converted as the flag's would be, or a one-line error."""
    if isinstance(value, bool) and setting.convert is boolean:
        return value  # TOML's own true and false
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(_("{value!r} is not a text or a number").format(value=value))
        return setting.convert(str(value))
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ServiceConfigError(
            _("{where}: {problem}; fix it or give the flag").format(where=where, problem=exc)
        ) from None


def _one_of(choices: tuple[str, ...], convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert``, then the check that argparse makes of a flag with ``choices``."""

    def checked(value: str) -> Any:
        converted = convert(value)
        if converted not in choices:
            raise ValueError(
                _("{value!r} is not one of {choices}").format(
                    value=value, choices=", ".join(choices)
                )
            )
        return converted

    return checked


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise ServiceConfigError(
            _("cannot read the config file {path} ({reason}); check --config").format(
                path=path, reason=exc.strerror or exc
            )
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ServiceConfigError(
            _("{path} is not TOML ({reason}); fix the file").format(path=path, reason=exc)
        ) from None
