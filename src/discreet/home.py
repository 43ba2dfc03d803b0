"""Where the client keeps its files: ``--home``, ``DISCREET_HOME`` or the platform data folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DEFAULT_APP_NAME = "discreet"
HOME_ENV = "DISCREET_HOME"


def resolve_home(explicit: str | Path | None = None, app_name: str = DEFAULT_APP_NAME) -> Path:
    """The client's home folder.

    An explicit path wins, then the ``DISCREET_HOME`` environment variable,
    then ``platformdirs.user_data_dir(app_name)``.
    """
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(HOME_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir(app_name, appauthor=False))
