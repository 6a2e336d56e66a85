#!/bin/sh
# Resolve pom.xml's runtime dependencies with Maven and copy their jars into /opt/java/lib.
# Set by fclayer: FCLAYER_JAVA (e.g. 11). Maven's own settings (~/.m2/settings.xml in the build
# image, or a settings.xml / .mvn folder in the project) decide the repositories.
set -eu
if ! command -v mvn >/dev/null 2>&1; then
  echo "fclayer: mvn is not in the build image" >&2
  exit 127
fi
java -version 2>&1 | head -n 1
mvn -version 2>&1 | head -n 1
cd /fclayer/src
settings=""
if [ -f settings.xml ]; then settings="-s settings.xml"; fi
mkdir -p /opt/java/lib
# Debian's Maven carries maven-dependency-plugin in its local repository (/usr/share/maven-repo);
# offline users point their settings there.
mvn -B -ntp $settings dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory=/opt/java/lib -Dmdep.useRepositoryLayout=false
