# eventsourced gateway image.
#   docker build -t eventsourced .
#   docker run -d -p 2069:2069 -e EVENTSOURCED_BROKER__NODE__0=amqp://user:pass@rabbit:5672/ eventsourced
# Configuration: /etc/eventsourced/config.yml (config.yml-dist; mount your own over it), then
# EVENTSOURCED_<SECTION>__<KEY> environment variables. Check it before starting with a restart policy (a bad one
# exits 78, which Docker's policies restart for ever): docker run --rm -e ... eventsourced -c

# ---- build: restore (cached while the project files do not change), then publish
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
COPY global.json Directory.Build.props Directory.Packages.props VERSION .editorconfig ./
COPY src/Eventsourced/Eventsourced.csproj src/Eventsourced/
COPY cmd/Eventsourced/Eventsourced.Cli.csproj cmd/Eventsourced/
RUN dotnet restore cmd/Eventsourced/Eventsourced.Cli.csproj
COPY config.yml-dist ./
# .dockerignore keeps a working tree's bin/ and obj/ (host paths in project.assets.json) out of these,
# so the restore above stands: the same command as `make publish`, into /app.
COPY src/ src/
COPY cmd/ cmd/
RUN dotnet publish cmd/Eventsourced/Eventsourced.Cli.csproj -c Release -o /app --no-restore

# ---- runtime: ASP.NET Core runtime only, unprivileged
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
LABEL org.opencontainers.image.title="eventsourced" \
      org.opencontainers.image.description="RabbitMQ queues streamed to browsers as Server-Sent Events" \
      org.opencontainers.image.licenses="MIT"
WORKDIR /app
# The image's default ASPNETCORE_HTTP_PORTS=8080 would fight with server.address.
ENV ASPNETCORE_HTTP_PORTS= \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
COPY --from=build /app ./
COPY --from=build /src/config.yml-dist /etc/eventsourced/config.yml
# APP_UID: the non-root "app" user (1654) that the .NET images provide. A config.yml mounted over
# /etc/eventsourced/config.yml must be readable by it (e.g. mode 0640, group 1654); broker passwords are
# better passed as EVENTSOURCED_BROKER__NODE__0 from a secret than written into that file.
USER $APP_UID
EXPOSE 2069
# Liveness (health.live, /healthz): 200 while the process serves. Not /readyz: a broker outage would
# mark every instance unhealthy at once, and restarting them does not bring the broker back.
# No curl or wget in the runtime image: a plain HTTP/1.0 request through bash's /dev/tcp, to the loopback port
# HEALTHCHECK_PORT (2069, server.address's default) and the default health.live path. Plain HTTP only: with
# server.tls the check fails on server.address's port, so set metrics.address (plain HTTP, the health probes answer
# there too) and HEALTHCHECK_PORT to its port (docker run -e HEALTHCHECK_PORT=9069). Do the same against
# limits.max_connections: on server.address this probe's connection is closed like any other, and the container
# turns unhealthy while it is full; metrics.address has its own listener and cap (so should an orchestrator's
# liveness probe use it).
ENV HEALTHCHECK_PORT=2069
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HEALTHCHECK_PORT:-2069} && printf 'GET /healthz HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
# SIGTERM ends the streams within server.shutdown_timeout (10 s), after server.drain_delay (0 by default);
# Docker's default stop timeout is also 10 s, so give it more than the two together: `docker stop -t 15`,
# or stop_grace_period in docker-compose.yml.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/eventsourced"]
