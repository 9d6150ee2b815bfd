"""`mailer serve`: the web endpoints (unsubscribe, clicks, webhooks, signup, archive)."""

from __future__ import annotations

import typer

from mailer.cli.common import command

app = typer.Typer()


@command(app, "serve", flow_help=False)
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
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
    uvicorn.run(
        create_app(state.workspace(), host=host),
        host=host,
        port=port,
        log_config=None,  # uvicorn's loggers go through mailer's handler (text or JSON, redacted)
        log_level=level_name(),
        access_log=False,  # request paths carry unsubscribe and click tokens
    )
