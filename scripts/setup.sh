#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine (and what CI runs first): Debian packages, Node 24 from the npm
# registry, npm dependencies (librdkafka client built from source), the Kafka jars from Maven Central.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "Debian packages"
# kcat: the "old librdkafka" client in the compatibility tests. libssl-dev/zlib1g-dev/g++/make/python3: what
# @confluentinc/kafka-javascript needs to build librdkafka from source (CKJS_LINKING=dynamic). Java 17 and Maven
# run the Kafka test bed.
need=()
for pkg in kcat libssl-dev zlib1g-dev g++ make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
command -v python3 >/dev/null || need+=(python3)
# openssl: the test bed's SASL_SSL listener and the security tests generate their CAs and certificates with it.
command -v openssl >/dev/null || need+=(openssl)
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "Node 24 from the npm registry"
# shellcheck source=scripts/node24-env.sh
source scripts/node24-env.sh
node --version

step "npm ci"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || ! node -e "require('@confluentinc/kafka-javascript')" >/dev/null 2>&1; then
  # No prebuilt librdkafka binary can be downloaded here: build it against Debian's OpenSSL/zlib.
  export CKJS_LINKING=dynamic
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date"
fi

step "Kafka jars (Maven Central)"
node scripts/kafka/install.ts

step "Apicurio Registry (Maven Central)"
node scripts/registry/install.ts
