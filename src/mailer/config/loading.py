"""Reading mailer.toml: the file, the MAILER_<SECTION>__<KEY> overrides, one clear error.

Every error names the file (and the line, when the key is found in it) or the environment
variable that set the value, the key, and what is expected.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailer.config.environment import ENV_PREFIX, SECRET_ENV, read_file_variables
from mailer.config.settings import Settings
from mailer.errors import ConfigError

_log = logging.getLogger("mailer.config")  # the name every config message had
CONFIG_FILE = "mailer.toml"
# Keys that would be secrets if someone put them in the file.
_SECRET_KEYS_IN_FILE = {("smtp", "password"), ("sendgrid", "api_key"), ("web", "secret_key")}


def load_settings(config_path: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read mailer.toml, overlay MAILER_<SECTION>__<KEY> variables, validate.

    Raises ConfigError naming the file (or variable), the key and what is expected.
    """
    env = read_file_variables(dict(os.environ if environ is None else environ))
    try:
        raw_text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{config_path}: not found",
            hint="run `mailer init DIR` to make a workspace, or pass --workspace DIR",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot be read ({err})") from err
    try:
        data: dict[str, Any] = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            f"{config_path}: not valid TOML: {err}",
            hint='each setting is `key = "value"` under a [section] header',
        ) from err

    for section, key in _SECRET_KEYS_IN_FILE:
        if isinstance(data.get(section), dict) and key in data[section]:
            variable = (
                "MAILER_SMTP__PASSWORD"
                if section == "smtp"
                else "SENDGRID_API_KEY"
                if section == "sendgrid"
                else "MAILER_SECRET_KEY"
            )
            raise ConfigError(
                f"{config_path}: [{section}] {key}: secrets must not be in the file",
                hint=f"remove it from the file and set the environment variable {variable}",
            )

    overridden: dict[tuple[str, str], str] = {}
    for name, value in env.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or "__" not in upper or upper in SECRET_ENV:
            continue
        section, _, key = upper[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if not section or not key:
            continue
        if section not in Settings.model_fields:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r}",
                hint="sections are " + ", ".join(Settings.model_fields),
            )
        block = data.setdefault(section, {})
        if not isinstance(block, dict):
            raise ConfigError(f"{config_path}: {section} must be a [section] table")
        block[key] = value
        overridden[(section, key)] = name

    try:
        settings = Settings.model_validate(data)
    except ValidationError as err:
        raise _explain(err, config_path, raw_text, overridden) from None
    if "opens" in (data.get("tracking") or {}):
        where = overridden.get(("tracking", "opens")) or str(config_path)
        _log.warning(
            "%s: tracking.opens is ignored and can be removed: mailer adds no open pixel "
            "(opens are unreliable since Apple Mail Privacy Protection); with SendGrid, its "
            "event webhook reports opens",
            where,
        )
    return settings


def _explain(
    err: ValidationError, config_path: Path, raw_text: str, overridden: dict[tuple[str, str], str]
) -> ConfigError:
    lines = []
    for problem in err.errors():
        loc = [str(part) for part in problem["loc"]]
        section = loc[0] if loc else ""
        key = loc[1] if len(loc) > 1 else ""
        dotted = ".".join(loc)
        variable = overridden.get((section, key))
        if variable:
            where = f"environment variable {variable}"
        else:
            line = _line_of(raw_text, section, key)
            where = f"{config_path}" + (f":{line}" if line else "")
        kind = problem["type"]
        if kind == "extra_forbidden":
            if len(loc) == 1:
                expected = "unknown section; sections are " + ", ".join(Settings.model_fields)
            else:
                model = Settings.model_fields.get(section)
                known = list(model.annotation.model_fields) if model and model.annotation else []
                expected = "unknown key; known keys are " + ", ".join(known)
        elif kind == "missing":
            expected = "required, but missing"
            if len(loc) == 1:
                expected = f"the [{section}] section is required"
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            expected = f"expected {message}" if kind == "value_error" else message
        lines.append(f"{where}: {dotted}: {expected}")
    return ConfigError(
        "configuration error:\n  " + "\n  ".join(lines),
        hint=f"edit {config_path.name} (see `mailer init --help` for a complete sample)",
    )


def _line_of(raw_text: str, section: str, key: str) -> int | None:
    """Best-effort line number of ``key`` in ``[section]``, or of the section header."""
    current = ""
    header_line = None
    for number, line in enumerate(raw_text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped.strip("[]").strip()
            if current == section:
                header_line = number
            continue
        if current == section and key and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return header_line
