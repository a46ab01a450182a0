# chatterbox in a container: a build stage with the Rust toolchain, and a small runtime stage
# (Debian slim, a non-root user, the database in the /data volume).
#
#   docker build -t chatterbox .
#   docker run -d --name chatterbox -p 8080:8080 -v chatterbox-data:/data chatterbox
#   docker exec chatterbox chatterbox user create alice --email alice@example.com --admin
#
# Configuration is by environment variables, as outside a container (`chatterbox serve --help`
# names each one: CHATTERBOX_DATABASE_URL for PostgreSQL, CHATTERBOX_TRUSTED_PROXIES, ...).
# `.ci/container.sh` builds the runtime stage below and tries it for real.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole tree but what .dockerignore leaves out (build output, the browser tests' packages).
COPY . .
RUN cargo build --release --locked --bin chatterbox

FROM debian:bookworm-slim AS runtime
# A fixed uid, so a volume's files keep their owner across image versions.
RUN groupadd --gid 10001 chatterbox \
    && useradd --uid 10001 --gid chatterbox --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin chatterbox \
    && mkdir -p /data && chown chatterbox:chatterbox /data
COPY --from=build /src/target/release/chatterbox /usr/local/bin/chatterbox
USER chatterbox:chatterbox
WORKDIR /data
VOLUME ["/data"]
# All interfaces inside the container (the host decides what is published); JSON logs for the
# container runtime's log collector.
ENV CHATTERBOX_DB=/data/chatterbox.db \
    CHATTERBOX_LISTEN=0.0.0.0:8080 \
    CHATTERBOX_LOG_FORMAT=json
EXPOSE 8080
# The image has no curl: bash's /dev/tcp asks /healthz on the port CHATTERBOX_LISTEN names
# (200 while the database answers and messages are being saved).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${CHATTERBOX_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# SIGTERM starts the graceful shutdown (--grace-period, 10 s by default): give the container
# runtime's stop timeout more than that (`docker stop -t 20`, compose `stop_grace_period`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatterbox"]
CMD ["serve"]
