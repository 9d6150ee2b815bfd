"""Configuration: mailer.toml plus MAILER_<SECTION>__<KEY>; errors name file, key, expectation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.workspace import Workspace

MINIMAL = """
[organization]
name = "Test Clinic"
postal_address = "1 Main St, Town"

[sender]
from_email = "news@clinic.example"

[booking]
url = "https://clinic.example/book"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailer.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_configuration_from_init_is_valid(workspace: Workspace) -> None:
    settings = workspace.settings
    assert settings.delivery.provider == "outbox"
    assert settings.schedule.misfire_grace == timedelta(hours=6)
    assert workspace.database_url == f"sqlite:///{workspace.root / 'mailer.db'}"


def test_defaults_fill_optional_sections(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), environ={})
    assert settings.tracking.clicks is True
    assert settings.sendgrid.api_host == "https://api.sendgrid.com"
    assert settings.booking.cta_text == "Book your free consultation"


def test_environment_overrides_every_key(tmp_path: Path) -> None:
    environ = {
        "MAILER_DELIVERY__PROVIDER": "smtp",
        "MAILER_DELIVERY__RATE_PER_SECOND": "12.5",
        "MAILER_TRACKING__CLICKS": "false",
        "MAILER_SENDGRID__CATEGORIES": "news,weekly",
        "MAILER_SCHEDULE__MISFIRE_GRACE": "30m",
        "MAILER_ORGANIZATION__NAME": "Other Clinic",
    }
    settings = load_settings(write(tmp_path, MINIMAL), environ=environ)
    assert settings.delivery.provider == "smtp"
    assert settings.delivery.rate_per_second == 12.5
    assert settings.tracking.clicks is False
    assert settings.sendgrid.categories == ["news", "weekly"]
    assert settings.schedule.misfire_grace == timedelta(minutes=30)
    assert settings.organization.name == "Other Clinic"


def test_unknown_key_names_file_line_and_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[delivery]\nprovidr = "smtp"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert f"{path}:13:" in message
    assert "delivery.providr" in message
    assert "known keys are provider" in message


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[delivery]\nbatch_size = "lots"\n')
    with pytest.raises(ConfigError, match=r"delivery\.batch_size: .*integer"):
        load_settings(path, environ={})


def test_missing_required_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('postal_address = "1 Main St, Town"\n', ""))
    with pytest.raises(ConfigError, match=r"organization\.postal_address: required"):
        load_settings(path, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable MAILER_DELIVERY__PROVIDER"):
        load_settings(write(tmp_path, MINIMAL), environ={"MAILER_DELIVERY__PROVIDER": "pigeon"})


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[smtp]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="MAILER_SMTP__PASSWORD") as caught:
        load_settings(path, environ={})
    assert "hunter2" not in str(caught.value)


def test_secret_from_environment_is_not_a_setting(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, MINIMAL),
        environ={"MAILER_SMTP__PASSWORD": "s3cret", "MAILER_SECRET_KEY": "k"},
    )
    assert "s3cret" not in settings.model_dump_json()


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[organization\nname="), environ={})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("schedule.cron", '"0 9 * *"', "five fields"),
        ("schedule.timezone", '"Mars/Olympus"', "IANA"),
        ("organization.brand_color", '"blue"', "#1d6fa5"),
        ("booking.url", '"www.clinic.example"', "http"),
    ],
)
def test_validated_values(tmp_path: Path, key: str, value: str, expected: str) -> None:
    section, name = key.split(".")
    base = MINIMAL.replace('url = "https://clinic.example/book"\n', "")
    if f"[{section}]" in base:
        text = base.replace(f"[{section}]\n", f"[{section}]\n{name} = {value}\n", 1)
    else:
        text = base + f"\n[{section}]\n{name} = {value}\n"
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text), environ={})


def test_draft_closing_lines_default_file_and_environment(tmp_path: Path) -> None:
    """Issue 12 item 7: closing lines are a setting; the default promises nothing."""
    default = load_settings(write(tmp_path, MINIMAL), environ={}).draft.closing_lines
    assert default == ["Have a question about anything in this issue? Reply to this email."]
    path = write(tmp_path, MINIMAL + '\n[draft]\nclosing_lines = ["Call us, any time.", ""]\n')
    assert load_settings(path, environ={}).draft.closing_lines == ["Call us, any time."]
    one = {"MAILER_DRAFT__CLOSING_LINES": "Questions? Call us, or reply."}
    assert load_settings(path, environ=one).draft.closing_lines == ["Questions? Call us, or reply."]
    several = {"MAILER_DRAFT__CLOSING_LINES": '["First, this.", "Then that."]'}
    assert load_settings(path, environ=several).draft.closing_lines == [
        "First, this.",
        "Then that.",
    ]
    assert (
        load_settings(path, environ={"MAILER_DRAFT__CLOSING_LINES": "[]"}).draft.closing_lines == []
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, MINIMAL + '\n[draft]\nclosing = "x"\n'), environ={})
    assert "draft.closing" in str(caught.value) and "closing_lines" in str(caught.value)


def test_tracking_opens_is_accepted_but_ignored_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 item 8: mailer adds no open pixel, so tracking.opens does nothing. An older
    mailer.toml that sets it still loads (unknown keys are errors), and a warning says the
    line is ignored and can go."""
    path = write(tmp_path, MINIMAL + "\n[tracking]\nclicks = true\nopens = true\n")
    with caplog.at_level("WARNING", logger="mailer.config"):
        settings = load_settings(path, environ={})
    assert settings.tracking.clicks is True
    [record] = [r for r in caplog.records if "tracking.opens" in r.getMessage()]
    assert str(path) in record.getMessage() and "ignored" in record.getMessage()

    caplog.clear()
    with caplog.at_level("WARNING", logger="mailer.config"):
        load_settings(write(tmp_path, MINIMAL), environ={})
    assert not caplog.records  # no note for a file without the key
