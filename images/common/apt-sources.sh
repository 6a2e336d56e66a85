# Sourced by the setup scripts. Debian 9 (stretch) and 10 (buster) are end of life: their
# packages moved to archive.debian.org and the old mirror URLs answer 404 (fc-docker #209), which
# breaks `apt-get update` in FC's own Debian 9 images. Point apt at the archive for them.
if [ -r /etc/os-release ]; then
  . /etc/os-release
fi
case "${VERSION_ID:-}" in
  9) fclayer_codename=stretch ;;
  10) fclayer_codename=buster ;;
  *) fclayer_codename= ;;
esac
if [ -n "$fclayer_codename" ]; then
  cat >/etc/apt/sources.list <<SOURCES
deb http://archive.debian.org/debian $fclayer_codename main contrib non-free
deb http://archive.debian.org/debian-security $fclayer_codename/updates main contrib non-free
SOURCES
  # The archive's Release files are no longer refreshed, so their Valid-Until has passed.
  echo 'Acquire::Check-Valid-Until "false";' >/etc/apt/apt.conf.d/99fclayer-archive
fi
