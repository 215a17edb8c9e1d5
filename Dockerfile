# Builds the service for docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/portage-ledger /usr/local/bin/portage-ledger
USER nobody
EXPOSE 8080
ENTRYPOINT ["portage-ledger"]
CMD ["serve"]
