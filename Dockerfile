# syntax=docker/dockerfile:1
# chattoken container image: a static Go binary on distroless, running as the
# nonroot user (65532), with no shell and no writable filesystem needed.
#
#   docker build --build-arg VERSION=1.2.3 -t chattoken:1.2.3 .     (or: make image)
#   docker run --read-only -p 8080:8080 -e CHATTOKEN_ISSUER=... chattoken:1.2.3
#
# test/deploy checks this image's contract without a container engine: the
# binary built as below is static and serves from a read-only root holding
# only itself, the CA certificates and the key directory, as uid 65532.

# The Go version of go.mod. Pin by digest for reproducible builds (see below).
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not refetch modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=devel
ARG TARGETOS=linux
ARG TARGETARCH
# Static (no cgo, so no libc or dynamic loader needed), with no local paths in
# the binary (-trimpath), the version for `chattoken version`.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/chattoken ./cmd/chattoken

# Never `latest`. To pin the base image by digest (reproducible, and immune to
# a retagged base), look the digest up where a registry is reachable:
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and write "gcr.io/distroless/static-debian12:nonroot@sha256:<digest>" below
# (the same for golang above). Until a digest is written here, only the tag is
# given.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=devel
LABEL org.opencontainers.image.title="chattoken" \
      org.opencontainers.image.description="Signed chat tokens for the Dynamics 365 Omnichannel live chat widget" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/chattoken /usr/local/bin/chattoken
# Numeric (distroless "nonroot"), so Kubernetes' runAsNonRoot can verify it
# without a passwd lookup.
USER 65532:65532
# 8080: the API (CHATTOKEN_ADDR); 9090: Prometheus metrics (CHATTOKEN_METRICS_ADDR).
EXPOSE 8080 9090
ENV CHATTOKEN_ADDR=:8080
# Exec form everywhere: distroless has no shell.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/chattoken", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/chattoken"]
CMD ["serve"]
