"""`python -m tinyexp`: see tinyexp.cli.main."""

from tinyexp.cli.main import console_main

if __name__ == "__main__":
    console_main()
