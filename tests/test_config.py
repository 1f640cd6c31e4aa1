"""Settings: defaults, then the TOML file, then APPLIANCE_* environment variables."""

from pathlib import Path

import pytest

from appliance.config import ConfigError, Settings, load_settings


def test_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.http_port == 8080
    assert settings.effective_database_url.startswith("sqlite:///") and settings.effective_database_url.endswith(
        "data/appliance.db")


def test_the_file_then_the_environment_decide(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text('data_dir = "/var/lib/appliance"\nhttp_port = 80\nmodems = ["/dev/gsm/*"]\n'
                      '[sim_pins]\n"89480610001234567890" = "1234"\n')
    settings = load_settings(config, environ={"APPLIANCE_HTTP_PORT": "8081",
                                              "APPLIANCE_MODEMS": "/dev/ttyUSB2, /dev/ttyACM*"})
    assert settings.data_dir == Path("/var/lib/appliance")
    assert settings.http_port == 8081
    assert settings.modems == ["/dev/ttyUSB2", "/dev/ttyACM*"]
    assert settings.sim_pins == {"89480610001234567890": "1234"}


def test_appliance_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('database_url = "postgresql+psycopg://box@db/appliance"\n')
    settings = load_settings(environ={"APPLIANCE_CONFIG": str(config)})
    assert settings.effective_database_url == "postgresql+psycopg://box@db/appliance"


def test_a_list_may_be_given_as_json_in_the_environment() -> None:
    assert load_settings(environ={"APPLIANCE_MODEMS": '["/a", "/b*"]'}).modems == ["/a", "/b*"]


@pytest.mark.parametrize(("content", "message"), [
    ("http_port = 'eighty'", "http_port = 'eighty' is not a valid int"),
    ("colour = 'blue'", "unknown setting 'colour'"),
    ("http_port = ", "not valid TOML"),
    ("smtp_security = 'tls13'", "smtp_security must be none, starttls or ssl"),
])
def test_bad_settings_are_refused_with_the_key_named(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config, environ={})


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="APPLIANCE_HTTP_PORT"):
        load_settings(environ={"APPLIANCE_HTTP_PORT": "x"})


@pytest.mark.parametrize(("text", "value"), [("0", False), ("false", False), ("no", False), ("1", True),
                                             ("On", True)])
def test_a_switch_reads_the_usual_words(text: str, value: bool) -> None:
    assert load_settings(environ={"APPLIANCE_UDEV_DISCOVERY": text}).udev_discovery is value


def test_a_switch_refuses_anything_else() -> None:
    with pytest.raises(ConfigError, match="APPLIANCE_UDEV_DISCOVERY"):
        load_settings(environ={"APPLIANCE_UDEV_DISCOVERY": "maybe"})
