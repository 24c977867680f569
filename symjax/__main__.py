"""``python -m symjax``: the ``symjax`` command."""

from symjax.cli import entry

if __name__ == "__main__":
    entry()
