"""C{python -m kafkatwist}: the C{kafkatwist} command (L{kafkatwist.cli})."""

from kafkatwist.cli import main

if __name__ == "__main__":
    main(prog="python -m kafkatwist")
