"""image/build.py's own rules, without building anything: configs, mirror, pinned packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

IMAGE = Path(__file__).parents[2] / "image"


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_build", IMAGE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


def test_every_module_listed_has_a_config_whose_keys_carry_its_name() -> None:
    settings = build.load_settings({})
    for module in settings["IMAGE_MODULES"].split():
        assert all(key.startswith(module.upper() + "_")
                   for key in build.read_config(IMAGE / "modules" / module / "config"))
    assert {"raspi-firmware", "linux-image-arm64", "avahi-daemon", "usb-modeswitch", "python3-venv",
            "openssh-server"} <= set(build.module_packages(settings))


def test_the_environment_overrides_image_and_module_settings() -> None:
    settings = build.load_settings({"IMAGE_ARCH": "amd64", "IMAGE_MODULES": "base app", "APP_PYTHON": "3.12"})
    assert (settings["IMAGE_ARCH"], settings["APP_PYTHON"]) == ("amd64", "3.12")
    assert "raspi-firmware" not in build.module_packages(settings)


def test_a_module_key_without_the_module_prefix_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("# comment\nNETWORK_PACKAGES=avahi-daemon\nHOSTNAME=x\n")
    with pytest.raises(build.BuildError, match="HOSTNAME must start with NETWORK_"):
        build.read_config(config, prefix="NETWORK_")


def test_the_mirror_defaults_to_the_build_machines_apt_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    assert build.host_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    one_line = tmp_path / "old"
    (one_line / "sources.list.d").mkdir(parents=True)
    (one_line / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert build.host_mirror("bookworm", one_line) == "http://other.example/debian"
    with pytest.raises(build.BuildError, match="set IMAGE_MIRROR"):
        build.host_mirror("trixie", one_line)


def test_a_package_version_that_moved_is_named_against_the_lock() -> None:
    installed = "avahi-daemon=0.8-10+deb12u1\nsystemd=252.39-1~deb12u2\n"
    locked = "avahi-daemon=0.8-10+deb12u1\nsystemd=252.38-1~deb12u1\n"
    assert build.lock_differences(installed, locked) == ["- systemd=252.38-1~deb12u1", "+ systemd=252.39-1~deb12u2"]
    assert build.lock_differences(installed, installed) == []


def test_the_python_dependencies_are_pinned_to_one_version_each() -> None:
    pins = [line for line in (IMAGE / "constraints.txt").read_text().splitlines() if not line.startswith("#")]
    assert pins and all(line.count("==") == 1 for line in pins)
    assert any(line.lower().startswith("cheroot==") for line in pins)
