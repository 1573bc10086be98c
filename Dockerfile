# Baton's manager image: `make docker-build IMG=...`.
# test/install/dockerfile_test.go checks what matters here.

# Build stage: a static binary, for whatever platform buildx asks for.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Modules first, so that source edits reuse the download layer.
COPY go.mod go.mod
COPY go.sum go.sum
RUN go mod download

# Only what cmd/manager compiles from.
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o manager ./cmd/manager

# Final stage: no shell, no package manager, CA certificates for HTTPS Git
# remotes, and the distroless nonroot user (65532). The Deployment mounts
# an emptyDir for the Git cache (/var/cache/baton-git) and runs with a
# read-only root filesystem.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
