"""Built-in rules. Importing this package registers them."""

from bplint.rules import hygiene, loops, meta, migrations, pins, precision, security, seeds, training  # noqa: F401
