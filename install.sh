#!/usr/bin/env bash
# Installs what rtml needs in a fresh clone: the system packages its Kafka client builds against
# (and kcat, which the Kafka tests use as an independent client, and Debian's chromium, which the
# dashboard test drives headless through playwright-core: no browser download) — installed with
# apt-get when run as root, else listed for you to install — then the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")"
PACKAGES=(librdkafka-dev libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev kcat gcc docker-compose prometheus chromium)
if ! dpkg -s "${PACKAGES[@]}" > /dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${PACKAGES[@]}"
  else
    echo "rtml: first install (as root): apt-get install ${PACKAGES[*]}" >&2
    exit 1
  fi
fi
# @confluentinc/kafka-javascript's prebuilt binary cannot be downloaded here: build it against the
# system librdkafka (about 2 minutes). onnxruntime-node's install script would download the CUDA
# execution provider (hundreds of MB) that rtml never uses: ONNXRUNTIME_NODE_INSTALL=skip (read by
# its script/install.js) keeps the bundled CPU build only. An environment variable, not an .npmrc
# key: npm 11 warns about unknown project config keys on every npm/npx call.
ONNXRUNTIME_NODE_INSTALL=skip CKJS_LINKING=dynamic npm ci
