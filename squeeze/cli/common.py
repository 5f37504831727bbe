"""What every command module shares: the parser class whose errors are one line, and comma-list parsing.
Exercised by tests/test_cli.py and tests/test_sweep.py.
"""
import argparse

from squeeze.errors import SqueezeError


class Parser(argparse.ArgumentParser):
    """argparse's errors as one-line SqueezeErrors (its default prints the usage too); sub-parsers inherit it."""

    def error(self, message: str):
        raise SqueezeError(f"{message} (see `{self.prog} --help`)")


def parse_list(text: str | None, tp: type, flag: str) -> list:
    """`1e-3,2e-3` -> [0.001, 0.002]; None -> []; a bad item is a one-line SqueezeError naming the flag."""
    if text is None:
        return []
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SqueezeError(f"{flag} {text!r}: empty item (expected a comma list like 1,2,4)")
        try:
            out.append(tp(item))
        except ValueError:
            raise SqueezeError(f"{flag} {text!r}: {item!r} is not {'an integer' if tp is int else 'a number'}") \
                from None
    return out


def parse_sizes(text: str | None) -> list[tuple[int, int]]:
    """`4x128,6x192` -> [(4, 128), (6, 192)]: n_layer x d_model."""
    sizes = []
    for item in parse_list(text, str, "--sizes"):
        layers, sep, width = item.lower().partition("x")
        if not (sep and layers.isdigit() and width.isdigit()):
            raise SqueezeError(f"--sizes {text!r}: {item!r} is not LAYERSxWIDTH like 4x128")
        sizes.append((int(layers), int(width)))
    return sizes
