"""Command-line entry point of bplint."""

import argparse

from bplint import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bplint", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bplint {__version__}")
    parser.parse_args(argv)
    return 0
