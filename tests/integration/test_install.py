"""The package as a user installs it: a wheel built from the tree, installed into a fresh venv.

The wheel is built without build isolation (the test venv's setuptools) and
installed without its dependencies, which the fresh venv borrows from the test
venv through a C{.pth} file (as C{--system-site-packages} would from the base
interpreter): no index is needed. Then the installed C{kafkatwist} command,
C{python -m kafkatwist} and C{twistd kafkatwist} are run from outside the
checkout, and the command's broker serves a real client.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from confluent_kafka import Producer

# confluent_kafka.admin re-exports NewTopic without marking it (upstream typing gap).
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kafkatwist import __version__
from kafkatwist.transport.banner import version_line
from tests.test_packaging import CLASSIFIERS

REPO = Path(__file__).resolve().parents[2]

#: What a build reads: everything else of the checkout stays out of the copy.
_SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "kafkatwist", "twisted")

_STARTED = re.compile(
    r"kafkatwist (\S+) started: properties (\S+), node\.id (\d+), "
    r"listeners PLAINTEXT://127\.0\.0\.1:(\d+), advertised PLAINTEXT://127\.0\.0\.1:(\d+), "
    r"log\.dirs (\S+)$"
)


def _pip() -> list[str]:
    """pip for the test venv: its own, else the base interpreter's (pip >= 22.3) pointed at it."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    base = Path(sys.base_prefix) / "bin" / "python3"
    return [str(base), "-m", "pip", "--python", sys.executable]


def _run(command: list[str], cwd: Path, timeout: float = 300) -> str:
    """Run C{command} outside the checkout (no PYTHONPATH); its stdout, or fail with its output."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the tree's sources (the build writes next to them)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.tmp", "dropin.cache")
    for name in _SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    out = root / "dist"
    _run(
        [*_pip(), "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        root,
    )
    [built] = out.glob("kafkatwist-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel, its dependencies borrowed from the test venv."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    python = root / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            root.parent,
        ).strip()
    )
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_borrowed.pth").write_text("".join(f"{path}\n" for path in sorted(borrowed)))
    _run(
        [*_pip()[:-1], str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        root.parent,
    )
    return root


def _metadata(wheel: Path) -> tuple[dict[str, list[str]], str, list[str]]:
    """The wheel's METADATA fields (each a list), its entry_points.txt and its file names."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"kafkatwist-{__version__}.dist-info"
        message = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields, entry_points, names


def test_wheel_metadata(wheel: Path) -> None:
    """The wheel carries the license, classifiers, bounded dependencies and the command."""
    fields, entry_points, names = _metadata(wheel)
    assert fields["Name"] == ["kafkatwist"]
    assert fields["Version"] == [__version__]
    assert fields["License-Expression"] == ["Apache-2.0"]
    assert fields["License-File"] == ["LICENSE"]
    assert f"kafkatwist-{__version__}.dist-info/licenses/LICENSE" in names
    assert fields["Author"] == ["kafkatwist developers"]
    assert fields["Requires-Python"] == [">=3.11"]
    assert CLASSIFIERS <= set(fields["Classifier"]), fields["Classifier"]
    runtime = [r for r in fields["Requires-Dist"] if "extra ==" not in r]
    assert runtime and all(">=" in r for r in runtime), runtime
    assert "kafkatwist = kafkatwist.cli:main" in entry_points.splitlines()
    if "[pytest11]" in entry_points:
        section = entry_points.split("[pytest11]", 1)[1].split("[", 1)[0]
        plugin = [line.split("=", 1)[1].strip() for line in section.splitlines() if "=" in line]
        assert plugin and all(p.startswith("kafkatwist.testing") for p in plugin), plugin
    # The plugin ships as twisted/plugins/ without an __init__.py that would shadow Twisted.
    assert "twisted/plugins/kafkatwist_plugin.py" in names
    assert not [n for n in names if n.startswith("twisted/") and n.endswith("__init__.py")]


def test_version_from_installed(venv: Path, tmp_path: Path) -> None:
    """The installed command, C{python -m kafkatwist} and twistd's plugin print the version line."""
    python = str(venv / "bin" / "python")
    where = _run([python, "-c", "import kafkatwist; print(kafkatwist.__file__)"], tmp_path)
    assert where.startswith(str(venv)), where
    assert _run([str(venv / "bin" / "kafkatwist"), "--version"], tmp_path) == version_line() + "\n"
    assert _run([python, "-m", "kafkatwist", "--version"], tmp_path) == version_line() + "\n"
    usage = _run([str(venv / "bin" / "kafkatwist"), "--help"], tmp_path)
    assert usage.startswith("Usage: kafkatwist [options] [path/to/server.properties]"), usage
    twistd = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
    assert (
        _run([python, "-c", twistd, "kafkatwist", "--version"], tmp_path) == version_line() + "\n"
    )


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(15)
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(20) == 0
    assert errors == [None] * len(values)


def test_installed_command_serves(venv: Path, tmp_path: Path) -> None:
    """
    The installed C{kafkatwist} starts with its start-up line, serves a producer and stops with 0,
    without Twisted's plugin cache (dropin.cache) being read or written.
    """
    plugins = next((venv / "lib").glob("python3*/site-packages/twisted/plugins"))
    for cache in plugins.glob("dropin.cache"):
        cache.unlink()  # a twistd run of another test may have written it
    logs = tmp_path / "logs"
    properties = tmp_path / "server.properties"
    properties.write_text(
        "node.id=7\n"
        "listeners=PLAINTEXT://127.0.0.1:0\n"
        "advertised.listeners=PLAINTEXT://127.0.0.1:0\n"
        f"log.dirs={logs}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [str(venv / "bin" / "kafkatwist"), str(properties)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    started = threading.Event()
    match: list[re.Match[str]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            found = _STARTED.search(line.rstrip("\n"))
            if found:
                match.append(found)
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(30), "no start-up line:\n" + "".join(lines)
        version, path, node_id, port, advertised, log_dirs = match[0].groups()
        assert (version, path, node_id, log_dirs) == (__version__, str(properties), "7", str(logs))
        assert advertised == port != "0"
        _produce(f"127.0.0.1:{port}", "installed", [b"one", b"two", b"three"])
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(20)
        reader.join(5)
    assert status == 0, "".join(lines)
    assert (logs / "installed-0").is_dir()
    assert not (plugins / "dropin.cache").exists()
    assert not any("plugin cache" in line for line in lines), "".join(lines)
