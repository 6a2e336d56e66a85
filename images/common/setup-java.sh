#!/bin/sh
# Make a JDK of Java MAJOR and Maven available in a build image.
#
#   setup-java.sh MAJOR
#
# Nothing to do if the base has both (FC's official build images do); else from the release's
# packages (openjdk-MAJOR-jdk-headless, maven). Debian 9 carries OpenJDK 11 in stretch-backports.
set -eu
major=$1
here=$(dirname "$0")
. "$here/apt-sources.sh"

have() { command -v "$1" >/dev/null 2>&1; }
java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n 1 |
    awk '{ print ($1 == 1) ? $2 : $1 }'
}
if [ "$(java_major)" = "$major" ] && have mvn; then
  echo "fclayer: java $major and maven already present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [ "${fclayer_codename:-}" = stretch ] && [ "$major" = 11 ]; then
  echo "deb http://archive.debian.org/debian stretch-backports main" >/etc/apt/sources.list.d/backports.list
fi
apt-get update -qq
# ca-certificates-java must configure before the JDK; some releases need the man folder.
mkdir -p /usr/share/man/man1
apt-get install -y -qq --no-install-recommends ca-certificates "openjdk-$major-jdk-headless" maven >/dev/null
# Debian's packaged maven-dependency-plugin lets air-gapped builds resolve without Maven Central.
apt-get install -y -qq --no-install-recommends libmaven-dependency-plugin-java >/dev/null ||
  echo "fclayer: this release does not package maven-dependency-plugin; Maven will fetch it"

rm -rf /var/lib/apt/lists/*
java -version 2>&1 | head -n 1
mvn -version 2>&1 | head -n 1
