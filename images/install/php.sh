#!/bin/sh
# Install composer.json's packages for the FC php7.2 runtime into /opt/php/vendor, the lockfile
# honoured and no dev packages; composer.json and composer.lock go beside vendor/.
# Set by fclayer: FCLAYER_PHP (7.2), FCLAYER_PHP_FULL (7.2.34).
set -eu
for tool in php composer; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fclayer: $tool is not in the build image" >&2
    exit 127
  fi
done
export COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1
# Path repositories are copied, not symlinked: a link would point outside the layer.
export COMPOSER_MIRROR_PATH_REPOS=1
have=$(php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;')
echo "fclayer: php $have, $(composer --version 2>/dev/null | head -n 1)"
cd /fclayer/src
if [ "$have" != "$FCLAYER_PHP" ]; then
  # Resolve and check platform requirements for the runtime's PHP, not the build image's.
  echo "fclayer: resolving for PHP $FCLAYER_PHP_FULL (the build image runs $have)"
  composer config --global platform.php "$FCLAYER_PHP_FULL"
fi
# Composer names the autoloader's class with a random suffix unless it is given one, so two
# builds of the same project differed in three files. The digest of the lock (or of composer.json
# without one) is stable and still differs between projects. Global config: not in the layer.
suffix_of=composer.json
if [ -f composer.lock ]; then suffix_of=composer.lock; fi
composer config --global autoloader-suffix "$(sha1sum "$suffix_of" | cut -c1-32)"
export COMPOSER_VENDOR_DIR=/opt/php/vendor
composer install --no-dev --no-progress --prefer-dist --optimize-autoloader
for f in composer.json composer.lock; do
  if [ -f "$f" ]; then cp "$f" /opt/php/; fi
done
