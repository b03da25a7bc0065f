#!/usr/bin/env bash
# Make a local base image for the Dockerfile's BASE_IMAGE build argument:
#
#   tests/docker/base.sh [ENGINE] [TAG]     (defaults: podman, localhost/kafkatwist-base)
#
# A Debian bookworm root file system from debootstrap (variant minbase) with
# Python 3.11, venv and pip (python3, python3-venv), imported with `ENGINE
# import` as TAG. CI uses it where pulling python:3.11-slim from a container
# registry is not possible; it needs root and Debian's mirror. About 70 s on a
# fresh machine.
set -euo pipefail

engine=${1:-podman}
tag=${2:-localhost/kafkatwist-base}
mirror=${KAFKATWIST_DEBIAN_MIRROR:-http://deb.debian.org/debian}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/kafkatwist-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror"
# The image is Debian's as installed: no package lists, no apt cache, no logs.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
tar -C "$rootfs" -c . | "$engine" import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$tag"
