# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------
# libpq and OpenSSL are built from source and linked statically (feature `bundled-libpq`).
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against placeholder sources, so this layer stays cached while only
# src/ changes. (The build script src/build.rs gets a placeholder too; if the manifest gains
# explicit [[bench]]/[[test]] paths, add placeholders for them here as well.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > src/build.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

COPY migrations ./migrations
# askama.toml points the page templates' compiler at src/web/templates.
COPY askama.toml ./
COPY src ./src
# COPY keeps the files' own mtimes, which may be older than the placeholder build: touch the
# crate roots so cargo rebuilds the crate itself.
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked \
 && install -m 0755 target/release/uit-portal /usr/local/bin/uit-portal

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: for TLS to PostgreSQL and SMTP; curl: for HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /var/lib/uit-portal --no-create-home \
      --shell /usr/sbin/nologin portal \
 && install -d -o portal -g portal -m 0750 /var/lib/uit-portal
COPY --from=builder /usr/local/bin/uit-portal /usr/local/bin/uit-portal

# The bundled OpenSSL looks for CA certificates under its own prefix; point it at Debian's
# (used with sslmode=verify-full and sslrootcert=system).
ENV PORTAL_BIND=0.0.0.0:8080 \
    SSL_CERT_DIR=/etc/ssl/certs \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PORTAL_DATA_DIR=/var/lib/uit-portal \
    PORTAL_LOG_FORMAT=json
WORKDIR /var/lib/uit-portal
VOLUME /var/lib/uit-portal
EXPOSE 8080
# Assumes the port in PORTAL_BIND stays 8080.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
USER portal
# SIGTERM drains in-flight requests for up to PORTAL_SHUTDOWN_TIMEOUT_SECONDS (30 by default);
# give `docker stop` a longer timeout than that (e.g. `docker stop -t 35`).
ENTRYPOINT ["/usr/local/bin/uit-portal"]
CMD ["serve"]
