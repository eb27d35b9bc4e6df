# syntax=docker/dockerfile:1
# Build stage: dependencies are compiled in their own layer, so a change in
# src/ rebuilds only the service itself.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev make perl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY .cargo .cargo
RUN mkdir -p src migrations \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY migrations migrations
COPY src src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: the binary, its one shared-library dependency (libssl), and
# a non-root user owning the data volume (SQLite file and nothing else).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin warrant \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /src/target/release/warrant /usr/local/bin/warrant
USER 10001:10001
WORKDIR /data
# The SQLite file (and nothing else) lives under the volume; with
# DATABASE_URL=postgres://… the volume stays empty and keys live in PostgreSQL.
ENV WARRANT_BIND=0.0.0.0:8080 \
    DATABASE_URL=/data/warrant.db \
    WARRANT_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# `warrant healthcheck` does GET /healthz itself: no shell or curl needed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/warrant", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/warrant"]
CMD ["serve"]
