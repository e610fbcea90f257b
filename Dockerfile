# Outpost container image: the static binary from `make cross` and nothing else.
#
#   make cross
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7,linux/arm/v6 -t outpost .
#   docker run -v outpost-data:/data -v $PWD/tls:/etc/outpost/tls:ro -p 8883:8883 outpost
#
# TARGETARCH/TARGETVARIANT (amd64, arm64, arm+v7, arm+v6) name the make cross output, e.g.
# bin/outpost-linux-armv7. TestDockerfileCopiesStaticBinary builds it with the Makefile and checks
# that it is static (CGO off: no interpreter, no shared libraries), which FROM scratch needs.
FROM scratch
ARG TARGETARCH
ARG TARGETVARIANT
COPY bin/outpost-linux-${TARGETARCH}${TARGETVARIANT} /usr/bin/outpost
COPY configs/packaging/container.yaml /etc/outpost/outpost.yaml
# Not root. /data is created owned by that user, so a named volume mounted there starts writable.
COPY --chown=65532:65532 configs/packaging/data/ /data/
USER 65532:65532
VOLUME /data
EXPOSE 8883
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/bin/outpost", "status", "--timeout", "4s"]
# Goroutines start small instead of at the average stack size seen (see configs/packaging/outpost.service).
ENV GODEBUG=adaptivestackstart=0
ENTRYPOINT ["/usr/bin/outpost"]
CMD ["serve", "--config", "/etc/outpost/outpost.yaml"]
