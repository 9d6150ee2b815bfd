"""The one Jinja2 environment factory: every template mailer renders runs in its sandbox.

Three kinds of template use it: the campaign email (``templates/newsletter.mjml.j2`` and
``newsletter.txt.j2``, mailer.campaigns.render), the signup confirmation and welcome emails
(``templates/confirm.*.j2``, ``welcome.*.j2``, mailer.campaigns.message) and the public web
pages (``mailer/web/templates/*.html``). The first two are in the workspace, where staff edit
them; so every environment is Jinja2's **immutable sandbox**: no Python internals
(``__class__``, ``__globals__``...), no ``.append``/``.update`` on the values passed in, and the
pages share it too (one policy, nothing to remember when a page gains a staff-edited part).

Shared, whatever the template:

- **autoescape by name**: a template whose name says HTML, MJML or XML (``.html``, ``.htm``,
  ``.xml``, ``.mjml``, each also with ``.j2``) is escaped; a text template (``.txt``,
  ``.txt.j2``) is not (the plain-text part must keep "&" and "<" as typed); any other name,
  and a template from a string, is escaped (the safe side).
- ``keep_trailing_newline``: a text part ends as its file ends.

The differences are parameters, each for a reason given at the call site: ``strict`` (an
undefined name is an error: on for emails, where a typo must stop a check rather than send a
blank; off for the web pages, which test optional values with ``{% if error %}``) and
``trim_blocks`` (the campaign templates are written for it; the signup emails are not, and
trimming would change their text).

:func:`render_template` turns every mistake in a template (syntax, a missing include, an unsafe
or undefined name) into a TemplateError naming the file and line, for staff to fix.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from mailer.errors import TemplateError

TEXT_SUFFIXES = (".txt", ".txt.j2")


def autoescape(name: str | None) -> bool:
    """Whether the template called ``name`` is HTML-escaped (None: a template from a string)."""
    # HTML, MJML and XML names, strings and unknown names are escaped: only text is not.
    return name is None or not name.lower().endswith(TEXT_SUFFIXES)


def sandboxed_environment(
    search_path: Sequence[Path], *, strict: bool, trim_blocks: bool = False
) -> SandboxedEnvironment:
    """The sandboxed environment loading templates from ``search_path`` (first match wins).

    Cached per arguments: one environment per folder, so Jinja2 compiles each template once
    and reloads it when its file changes (FileSystemLoader checks the file's mtime).
    """
    return _environment(tuple(Path(p) for p in search_path), strict, trim_blocks)


@lru_cache(maxsize=64)
def _environment(
    search_path: tuple[Path, ...], strict: bool, trim_blocks: bool
) -> SandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(path) for path in search_path]),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
        keep_trailing_newline=True,
    )


def render_template(
    environment: SandboxedEnvironment,
    folder: Path,
    name: str,
    context: Mapping[str, Any],
    *,
    names: str,
) -> str:
    """Render ``name``; any mistake in it is a TemplateError naming the file and line.

    ``folder`` is where a relative template name is shown from; ``names`` lists what the
    template may use (the hint for an undefined name).
    """
    try:
        return environment.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as err:
        where = _where(folder, err.filename or err.name or name, err.lineno)
        raise TemplateError(
            f"{where}: template syntax error: {err.message}",
            hint="fix the {{ }} / {% %} tag on that line (every {% if %} needs {% endif %})",
        ) from err
    except jinja2.TemplateNotFound as err:
        raise TemplateError(
            f"{folder / str(err.name)}: template not found (needed by {name})",
            hint="restore it from a fresh `mailer init` folder, or fix the include's name",
        ) from err
    except jinja2.exceptions.SecurityError as err:
        raise TemplateError(
            f"{_where_from_traceback(folder, err, name)}: not allowed in a template: {err}",
            hint="templates may use the values mailer passes in, not Python internals",
        ) from err
    except jinja2.UndefinedError as err:
        raise TemplateError(
            f"{_where_from_traceback(folder, err, name)}: {err.message}",
            hint=f"use only the names mailer provides: {names}",
        ) from err
    except (TypeError, ValueError, AttributeError, ArithmeticError, LookupError) as err:
        raise TemplateError(
            f"{_where_from_traceback(folder, err, name)}: template failed: {err}",
            hint="check the expression on that line",
        ) from err


def _where(folder: Path, filename: str, lineno: int | None) -> str:
    path = Path(filename)
    if not path.is_absolute():
        path = folder / path
    return f"{path}:{lineno}" if lineno else str(path)


def _where_from_traceback(folder: Path, err: BaseException, name: str) -> str:
    """Jinja rewrites tracebacks to point at template lines: take the innermost template one."""
    root = str(folder.resolve())
    found = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.startswith(root) or frame.filename.endswith(".j2"):
            found = frame
    if found is None:
        return str(folder / name)
    return _where(folder, found.filename, found.lineno)
