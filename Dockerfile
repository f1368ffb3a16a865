# Hearth's container image: a static binary on distroless, run as an
# unprivileged user that may still bind port 53.
#
#   docker build -t hearth .
#   docker compose -f packaging/compose/home/compose.yaml up -d
#
# Build stage: a static binary (no cgo, so no libc in the final image).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/hearth ./cmd/hearth
# Port 53 without root: the capability rides on the file (BuildKit, the
# default builder since Docker 23, keeps it through COPY --from); compose
# adds NET_BIND_SERVICE to the container's bounding set.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /out/hearth \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hearth /usr/bin/hearth
COPY packaging/container.yaml /etc/hearth/hearth.yaml
# The store, the list cache and the query log: mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 53/udp 53/tcp 853/tcp 8053/tcp
# distroless has no curl: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/bin/hearth", "healthcheck", "--config", "/etc/hearth/hearth.yaml"]
ENTRYPOINT ["/usr/bin/hearth"]
CMD ["serve", "--config", "/etc/hearth/hearth.yaml"]
