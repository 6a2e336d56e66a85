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
# The plugin is named by version, so a build needs no plugin metadata from a remote repository:
# the one Debian packages (libmaven-dependency-plugin-java, in /usr/share/maven-repo, which an
# air-gapped settings.xml can mirror central to), else a current release from Maven Central.
plugin_dir=/usr/share/maven-repo/org/apache/maven/plugins/maven-dependency-plugin
version=$(ls "$plugin_dir" 2>/dev/null | grep -v '^debian$' | sort -V | tail -n 1)
version=${version:-3.6.1}
# fclayer's download-cache volume keeps Maven's repository between builds.
if [ -n "${FCLAYER_M2:-}" ]; then settings="$settings -Dmaven.repo.local=$FCLAYER_M2"; fi
mvn -B -ntp $settings "org.apache.maven.plugins:maven-dependency-plugin:$version:copy-dependencies" \
  -DincludeScope=runtime -DoutputDirectory=/opt/java/lib
