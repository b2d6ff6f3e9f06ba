"""Built-in rules. Importing this package registers them."""

from bplint.rules import (  # noqa: F401
    _requirements,
    adapters,
    hygiene,
    loops,
    meta,
    migrations,
    pins,
    precision,
    security,
    seeds,
    training,
)
