"""`python -m tinyexp`: see tinyexp.cli."""

from tinyexp.cli import console_main

if __name__ == "__main__":
    console_main()
