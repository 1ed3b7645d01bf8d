"""The service's limits: how much one request may ask, so that no client can tie the service up or exhaust its
memory. Each is a ``drgpay serve`` option; the defaults suit one hospital's discharges of a day or a month."""

from __future__ import annotations

import os

import attrs

__all__ = ["Limits"]


_positive = attrs.validators.gt(0)


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@attrs.frozen
class Limits:
    """Per-request limits of the service (``drgpay serve`` options in brackets).

    - ``max_body_bytes`` [``--max-body-mb``]: request body size, 32 MiB by default (about 100,000 records of
      JSON); larger bodies get 413 before they are read.
    - ``max_rows`` [``--max-rows``]: records in one request, 100,000 by default; more get 413.
    - ``timeout_seconds`` [``--timeout``]: time to read, group and answer one request once its body has arrived,
      30 s by default; the work runs on a worker thread and a request past the limit gets 503.
    - ``max_codes`` [``--max-codes``]: codes in one field (other diagnoses, procedures), 100 by default (a
      settlement list has far fewer); more get 422 naming the row and the column.
    - ``threads`` [``--threads``]: worker threads that group, one per CPU up to 4 by default; requests beyond
      them wait their turn, inside their time limit.
    - ``max_unpacked_ratio``: an uploaded workbook (a zip file) may unpack to at most this many times
      ``max_body_bytes``, 10 by default (a guard against zip bombs).
    """

    max_body_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=_positive)
    max_rows: int = attrs.field(default=100_000, validator=_positive)
    timeout_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0.0))
    max_codes: int = attrs.field(default=100, validator=_positive)
    threads: int = attrs.field(factory=_default_threads, validator=_positive)
    max_unpacked_ratio: int = attrs.field(default=10, validator=_positive)

    @property
    def max_unpacked_bytes(self) -> int:
        """The most an uploaded workbook may unpack to."""
        return self.max_body_bytes * self.max_unpacked_ratio
