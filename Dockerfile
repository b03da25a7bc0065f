# kafkatwist broker image:
#
#   docker build -t kafkatwist .
#   docker run -p 9092:9092 kafkatwist
#
# KAFKA_* environment variables set broker properties as in the apache/kafka
# image (KAFKA_ADVERTISED_LISTENERS is advertised.listeners); see the README's
# Docker section. BASE_IMAGE may be any Debian-based image with python3 (>= 3.11)
# and its venv module, e.g. one made by tests/docker/base.sh.
ARG BASE_IMAGE=python:3.11-slim

# --- build: a virtual environment in /opt/kafkatwist, with the compiled record
# walker (kafkatwist/wire/_walk.c), so the final image needs no compiler.
FROM ${BASE_IMAGE} AS build
# pip's index and CA bundle, for a network that needs them (pip reads both
# from the environment; an empty value means pip's default).
ARG PIP_INDEX_URL=
ARG PIP_CERT=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN set -eu; \
    need=""; \
    command -v gcc >/dev/null || need="gcc libc6-dev"; \
    python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || need="$need python3-dev"; \
    if [ -n "$need" ]; then \
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need; \
    fi; \
    python3 -m venv /opt/kafkatwist
COPY . /src
RUN set -eu; \
    [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; \
    [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    /opt/kafkatwist/bin/python -m pip install -q /src; \
    /opt/kafkatwist/bin/python -c "import kafkatwist.wire._walk"

# --- the image
FROM ${BASE_IMAGE}
ENV PATH=/opt/kafkatwist/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    KAFKATWIST_DEFAULT_PROPERTIES=/etc/kafkatwist/server.properties \
    KAFKATWIST_PROPERTIES=/tmp/kafkatwist/server.properties
COPY --from=build /opt/kafkatwist /opt/kafkatwist
COPY docker/server.properties /etc/kafkatwist/server.properties
# Twisted's plugin cache (dropin.cache), built here by root because the broker's
# user cannot write site-packages. Twisted rebuilds it at every start when a
# plugin module's mtime is >= the cache's, and image layers keep whole seconds
# only: a cache written in the same second as its modules would be stale in
# every container (and rewriting it fails, with a warning). So its mtime is set
# two seconds past the newest module's, which truncation cannot undo. The
# check afterwards fails the build if Twisted would still rewrite it.
RUN set -eu; \
    python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"; \
    plugins=$(python -c "import os, twisted.plugins as p; print(os.path.dirname(p.__file__))"); \
    newest=$(find "$plugins" -maxdepth 1 -name '*.py' -printf '%T@\n' | sort -n | tail -n 1); \
    touch -d "@$(( ${newest%.*} + 2 ))" "$plugins/dropin.cache"; \
    chmod 0444 "$plugins/dropin.cache"; \
    groupadd --gid 1000 kafkatwist; \
    useradd --uid 1000 --gid 1000 --no-create-home --home-dir /var/lib/kafkatwist \
        --shell /usr/sbin/nologin kafkatwist; \
    install -d -o kafkatwist -g kafkatwist -m 0750 /var/lib/kafkatwist /var/lib/kafkatwist/data; \
    before=$(stat -c %Y "$plugins/dropin.cache"); \
    python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"; \
    test "$(stat -c %Y "$plugins/dropin.cache")" = "$before"

USER kafkatwist
WORKDIR /var/lib/kafkatwist
VOLUME ["/var/lib/kafkatwist/data"]
EXPOSE 9092
# A Kafka-level probe: ApiVersions to the client listener of the written properties.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "kafkatwist.healthcheck"]

# Arguments: an optional properties file (instead of the image's defaults), then
# options of `twistd kafkatwist` (e.g. --override key=value), which win.
ENTRYPOINT ["python", "-m", "kafkatwist.container"]
