#!/bin/sh
# Make PHP VERSION's command-line interpreter and Composer available in a build image.
#
#   setup-php.sh VERSION
#
# Nothing to do if the base has PHP VERSION and composer (FC's official php7.2 build image does).
# Else the release's own PHP and Composer packages. A release whose PHP differs from VERSION
# (Debian 11 has 7.4) stands in: PHP code is the same, and the installer tells Composer to
# resolve for the runtime's PHP version (config.platform.php), so the lockfile is checked against
# the runtime, not the build image.
set -eu
ver=$1
here=$(dirname "$0")
. "$here/apt-sources.sh"

have() { command -v "$1" >/dev/null 2>&1; }
php_ver() { php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;' 2>/dev/null || echo none; }
if [ "$(php_ver)" = "$ver" ] && have composer; then
  echo "fclayer: php $ver and composer already present"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates php-cli composer unzip >/dev/null
rm -rf /var/lib/apt/lists/*
echo "fclayer: php $(php_ver) stands in for $ver; composer $(composer --version 2>/dev/null | cut -d' ' -f3)"
