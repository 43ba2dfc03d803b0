"""One ``with`` behaviour for every object that holds something until ``close()``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closable:
    """``with obj:`` returns ``obj`` and closes it on the way out, whatever happened."""

    def close(self) -> None:
        """Release what the object holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
