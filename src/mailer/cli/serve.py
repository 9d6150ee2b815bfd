"""`mailer serve`: the web endpoints (unsubscribe, clicks, webhooks, signup, archive)."""

from __future__ import annotations

from urllib.parse import urlsplit

import typer

from mailer.cli.common import command

DEFAULT_PORT = 8000
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


app = typer.Typer()


@command(app, "serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int | None = typer.Option(
        None,
        "--port",
        help="Port to listen on (default: web.base_url's port when it is a loopback address, "
        "so the links in emails work as printed; else 8000).",
    ),
) -> None:
    """Serve the web endpoints: unsubscribe, click-through, SendGrid events, signup, archive.

    Put it behind your HTTPS proxy and set web.base_url in mailer.toml to its public address.
    It needs MAILER_SECRET_KEY (the key that signs unsubscribe and click links) unless it serves
    the outbox provider on 127.0.0.1: otherwise it refuses to start (exit 2) and says why.
    There is no access log: unsubscribe and click links carry personal tokens in their paths,
    so they are kept out of the logs (your proxy's log should leave them out too). Start-up
    messages and errors are still logged.

    Example: mailer serve --host 0.0.0.0 --port 8000
    """
    import uvicorn

    from mailer.cli.common import state
    from mailer.logs import level_name
    from mailer.web.app import create_app

    state.service_logging()
    workspace = state.workspace()
    if port is None:
        port = default_port(workspace.settings.web.base_url)
    uvicorn.run(
        create_app(workspace, host=host),
        host=host,
        port=port,
        log_config=None,  # uvicorn's loggers go through mailer's handler (text or JSON, redacted)
        log_level=level_name(),
        access_log=False,  # request paths carry unsubscribe and click tokens
    )


def default_port(base_url: str) -> int:
    """The port of a loopback ``base_url`` (``http://127.0.0.1:8123`` -> 8123): the links in
    sent emails point there, so serving anywhere else breaks every one of them. A public
    base_url is the proxy's address, not ours: then 8000."""
    parts = urlsplit(base_url)
    try:
        explicit = parts.port
    except ValueError:  # config validation already refuses this; be safe here all the same
        return DEFAULT_PORT
    if parts.hostname in _LOOPBACK and explicit is not None:
        return explicit
    return DEFAULT_PORT  # a public address, or loopback on 80/443 (needs a proxy or root)
