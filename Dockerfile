# kafkatwist broker image: docker build -t kafkatwist . && docker run -p 9092:9092 kafkatwist
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

COPY . /tmp/kafkatwist

# Install (with a C compiler for the record walker, kafkatwist/wire/_walk.c,
# removed again afterwards), then build Twisted's plugin cache (dropin.cache)
# while still root: the runtime user cannot write it into site-packages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install /tmp/kafkatwist \
    && python -c "import kafkatwist.wire._walk" \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /tmp/kafkatwist \
    && python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))" \
    && useradd --system --no-create-home --home-dir /var/lib/kafkatwist \
        --shell /usr/sbin/nologin kafkatwist \
    && install -d -o kafkatwist -g kafkatwist /var/lib/kafkatwist

USER kafkatwist
WORKDIR /var/lib/kafkatwist
VOLUME ["/var/lib/kafkatwist"]
EXPOSE 9092

# Extra arguments are appended: a server.properties path and/or kafkatwist options
# (a later --log-dirs wins over this one).
ENTRYPOINT ["twistd", "--nodaemon", "--pidfile=", "kafkatwist", "--log-dirs=/var/lib/kafkatwist"]
