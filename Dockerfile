# eventsourced gateway image.
#   docker build -t eventsourced .
#   docker run -d -p 2069:2069 -e EVENTSOURCED_BROKER__NODE__0=amqp://user:pass@rabbit:5672/ eventsourced
# Configuration: /etc/eventsourced/config.yml (config.yml-dist; mount your own over it), then
# EVENTSOURCED_<SECTION>__<KEY> environment variables.

# ---- build: restore (cached while the project files do not change), then publish
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
COPY global.json Directory.Build.props Directory.Packages.props VERSION .editorconfig ./
COPY src/Eventsourced/Eventsourced.csproj src/Eventsourced/
COPY cmd/Eventsourced/Eventsourced.Cli.csproj cmd/Eventsourced/
RUN dotnet restore cmd/Eventsourced/Eventsourced.Cli.csproj
COPY config.yml-dist ./
COPY src/ src/
COPY cmd/ cmd/
# A working tree's bin/ and obj/ (host paths in project.assets.json) must not leak into the build.
RUN find src cmd -depth -type d \( -name bin -o -name obj \) -exec rm -rf {} + \
 && dotnet publish cmd/Eventsourced/Eventsourced.Cli.csproj -c Release -o /app

# ---- runtime: ASP.NET Core runtime only, unprivileged
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
# The image's default ASPNETCORE_HTTP_PORTS=8080 would fight with server.address.
ENV ASPNETCORE_HTTP_PORTS= \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
COPY --from=build /app ./
COPY --from=build /src/config.yml-dist /etc/eventsourced/config.yml
# APP_UID: the non-root "app" user (1654) that the .NET images provide.
USER $APP_UID
EXPOSE 2069
# No curl or wget in the runtime image: a plain HTTP/1.0 request through bash's /dev/tcp.
# Assumes the default server.address port 2069.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2069 && printf 'GET /healthz HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/eventsourced"]
