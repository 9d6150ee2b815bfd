# mailer in a container: `mailer serve` by default; the same image runs `scheduler run`,
# `worker` and `db upgrade` (compose.yaml). Build: docker build -t mailer .
# The dependencies are the tested versions of requirements.lock; docs/deploy.md, "Containers".

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# The locked dependencies first: this layer changes only with requirements.lock.
COPY requirements.lock ./
RUN python -m venv /opt/mailer \
    && /opt/mailer/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.lock
# Then mailer itself, adding no other package.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/mailer/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && /opt/mailer/bin/pip check

FROM python:3.11-slim-bookworm
# A fixed uid/gid, so files in the workspace volume (and secret files on the host) can be
# given to it: chown 10001 ...
RUN groupadd --system --gid 10001 mailer \
    && useradd --system --uid 10001 --gid mailer --no-create-home \
        --home-dir /srv/newsletter --shell /usr/sbin/nologin mailer \
    && install -d -o mailer -g mailer -m 0770 /srv/newsletter
COPY --from=build /opt/mailer /opt/mailer
ENV PATH=/opt/mailer/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILER_WORKSPACE=/srv/newsletter \
    MAILER_LOG_FORMAT=json
WORKDIR /srv/newsletter
VOLUME ["/srv/newsletter"]
USER 10001:10001
EXPOSE 8000
# Ready: the database answers and its schema is current (GET /readyz). Containers of this
# image that run the scheduler or a worker override it (compose.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
ENTRYPOINT ["mailer"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
