"""Built-in rules. Importing this package registers them."""

from bplint.rules import meta, pins, precision, security, seeds  # noqa: F401
