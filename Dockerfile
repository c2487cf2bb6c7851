# syntax=docker/dockerfile:1
#
# ca-check: a static binary on distroless, run as a non-root user.
#
#   cp deploy/ca-check.env.example deploy/ca-check.env   # and fill it in
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t ca-check .
#   docker run --env-file deploy/ca-check.env -v ca-check-data:/data ca-check
#
# deploy/compose.yaml runs two replicas on PostgreSQL; deploy/kubernetes/ has
# plain manifests.
#
# The default command is `serve` (Socket Mode unless CACHECK_HTTP_ADDR and
# CACHECK_SLACK_SIGNING_SECRET are set; then expose that port too). The
# health check runs `ca-check healthcheck`, which GETs /healthz on
# CACHECK_HEALTH_ADDR (default :8081): the image has no shell or curl.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The build context has no .git (.dockerignore), so Go cannot stamp the
# commit: VERSION, when given, is what 'ca-check version', the start-up log
# and the User-Agent say instead of "(devel)".
ARG VERSION=
# CGO_ENABLED=0: a static binary (the SQLite driver is pure Go), which the
# static distroless image needs; -trimpath keeps build paths out of it.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/ca-check ./cmd/ca-check
# The SQLite database lives in a volume the non-root user can write.
RUN mkdir -p /out/data

# distroless/static: CA certificates (for Slack and Microsoft Graph), tzdata,
# /etc/passwd with the nonroot user (65532), and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ca-check /ca-check
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV CACHECK_DB=/data/ca-check.db \
    CACHECK_HEALTH_ADDR=:8081
VOLUME ["/data"]
# 8081: /healthz, /readyz, /metrics. 8080: Slack's requests in HTTP mode
# (CACHECK_HTTP_ADDR=:8080); unused in Socket Mode.
EXPOSE 8081 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/ca-check", "healthcheck"]
ENTRYPOINT ["/ca-check"]
CMD ["serve"]
