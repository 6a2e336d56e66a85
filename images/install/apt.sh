#!/bin/sh
# System packages for the layer. Set by fclayer: FCLAYER_APT (package names), FCLAYER_DEBIAN.
#
# 1. apt installs the packages in the build container (with their dependencies).
# 2. The ELF programs of the named packages (from any bin/ or sbin/ folder) go to /opt/bin and
#    their shared libraries to /opt/lib, SONAME symlinks kept as symlinks. A package with no
#    files of its own (a metapackage such as postgresql-client) stands for its dependencies.
# 3. Every ELF file in /opt/bin and /opt/lib is given to the dynamic loader (ldd), and each
#    library it resolves outside /opt/lib is copied in, unless the runtime image provides it
#    (/fclayer/provided.txt: one soname per line, fclayer's list for this Debian release).
# Prints every file added and why.
set -eu
export DEBIAN_FRONTEND=noninteractive
provided=/fclayer/provided.txt
[ -f "$provided" ] || : >"$provided"

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = '177ELF' ]; }
is_provided() { grep -qxF "$1" "$provided"; }

installed() { dpkg-query -W -f '${Package}\n' | sort; }
installed >/tmp/fclayer-before
echo "fclayer: apt-get install $FCLAYER_APT"
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 $FCLAYER_APT
installed >/tmp/fclayer-after
comm -13 /tmp/fclayer-before /tmp/fclayer-after >/tmp/fclayer-new

# The named packages, and for one without ELF files of its own, its newly installed dependencies.
: >/tmp/fclayer-primary
for spec in $FCLAYER_APT; do
  pkg=${spec%%=*}
  echo "$pkg" >>/tmp/fclayer-primary
  has_elf=no
  for f in $(dpkg -L "$pkg" 2>/dev/null); do
    if is_elf "$f"; then has_elf=yes; break; fi
  done
  if [ "$has_elf" = no ]; then
    deps=$(dpkg-query -W -f '${Depends}\n' "$pkg" | tr ',' '\n' | sed 's/[|(].*//; s/:any//; s/ //g' | sort -u)
    for d in $deps; do
      if grep -qxF "$d" /tmp/fclayer-new; then
        echo "fclayer: $pkg is a metapackage; taking $d"
        echo "$d" >>/tmp/fclayer-primary
      fi
    done
  fi
done

mkdir -p /opt/bin /opt/lib
owner() { dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1; }

# Copy a library (a symlink chain and its final file) into /opt/lib under its own names.
copy_lib() {
  src=$1
  while :; do
    name=$(basename "$src")
    if [ ! -e "/opt/lib/$name" ] && [ ! -L "/opt/lib/$name" ]; then
      cp -P "$src" "/opt/lib/$name"
    fi
    [ -L "$src" ] || break
    next=$(readlink "$src")
    case "$next" in
      /*) src=$next ;;
      *) src=$(dirname "$src")/$next ;;
    esac
    # A link into another folder cannot stay a link in the flat /opt/lib: copy the file.
    if [ "$(dirname "$src")" != "$(dirname "$1")" ]; then
      rm -f "/opt/lib/$name"
      cp -L "$1" "/opt/lib/$name"
      break
    fi
  done
}

for pkg in $(sort -u /tmp/fclayer-primary); do
  for f in $(dpkg -L "$pkg"); do
    case "$f" in
      */bin/* | */sbin/*)
        if is_elf "$f" && [ -x "$f" ]; then
          name=$(basename "$f")
          if [ ! -e "/opt/bin/$name" ]; then
            cp -L "$f" "/opt/bin/$name"
            echo "fclayer: added bin/$name (from $pkg)"
          fi
        fi
        ;;
      /lib/*.so* | /usr/lib/*.so* | /lib/*-linux-gnu/*.so* | /usr/lib/*-linux-gnu/*.so*)
        dir=$(dirname "$f")
        case "$dir" in /lib | /usr/lib | /lib/*-linux-gnu | /usr/lib/*-linux-gnu) ;; *) continue ;; esac
        real=$(readlink -f "$f")
        is_elf "$real" || continue
        name=$(basename "$f")
        if is_provided "$name"; then
          echo "fclayer: skipped lib/$name (from $pkg): the runtime provides it"
          continue
        fi
        copy_lib "$f"
        echo "fclayer: added lib/$name (from $pkg)"
        ;;
    esac
  done
done

# Follow what the programs and libraries need, until nothing is missing.
pass=0
while [ $pass -lt 10 ]; do
  pass=$((pass + 1))
  added=0
  for f in /opt/bin/* /opt/lib/*; do
    [ -L "$f" ] && continue
    is_elf "$f" || continue
    LD_LIBRARY_PATH=/opt/lib ldd "$f" 2>/dev/null | while read -r soname arrow path _; do
      [ "$arrow" = "=>" ] || continue
      case "$path" in
        /opt/lib/*) continue ;;
        not) echo "fclayer: warning: ${f#/opt/} needs $soname, which no installed package provides" ;;
        /*)
          if is_provided "$soname"; then continue; fi
          [ -e "/opt/lib/$soname" ] && continue
          copy_lib "$path"
          echo "fclayer: added lib/$soname (from $(owner "$(readlink -f "$path")")): needed by ${f#/opt/}"
          ;;
      esac
    done >>/tmp/fclayer-closure
  done
  if grep -q "added" /tmp/fclayer-closure 2>/dev/null; then
    cat /tmp/fclayer-closure
    added=1
  else
    cat /tmp/fclayer-closure 2>/dev/null | sort -u
  fi
  rm -f /tmp/fclayer-closure
  [ $added = 1 ] || break
done
rmdir /opt/bin /opt/lib 2>/dev/null || true
# What was installed, for the layer's manifest (read back by fclayer, never part of /opt).
mkdir -p /fclayer/report
while read -r p; do
  dpkg-query -W -f '${Package}=${Version}\n' "$p"
done </tmp/fclayer-new >/fclayer/report/apt.txt
echo "fclayer: $(ls /opt/bin 2>/dev/null | wc -l) programs in bin/, $(ls /opt/lib 2>/dev/null | wc -l) files in lib/"
