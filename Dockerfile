# syntax=docker/dockerfile:1
# chattoken container image: a static Go binary on distroless, running as
# the nonroot user, happy with a read-only root filesystem.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/chattoken ./cmd/chattoken

# Pin the base image by digest for reproducible builds:
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# then replace the tag below with "gcr.io/distroless/static-debian12:nonroot@sha256:<digest>".
# The digest could not be looked up where this file was written (no registry access).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chattoken /usr/local/bin/chattoken
USER nonroot:nonroot
EXPOSE 8080
ENV CHATTOKEN_ADDR=:8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/chattoken", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/chattoken"]
CMD ["serve"]
