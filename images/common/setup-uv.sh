#!/bin/sh
# Put uv, pinned by version and sha256, at /usr/local/bin/uv: the fast Python installer
# (images/install/python.sh). From PyPI's musllinux wheel, whose binary is statically linked and so
# runs on any glibc (Debian 9's too), fetched with the image's own pip (uv itself needs Python
# >= 3.8 to pip-install, so it is downloaded as a file, never installed as a package).
#
#   setup-uv.sh PYTHON
#
# The download needs PyPI over HTTPS: fclayer puts the CA bundle it was given (--ca-cert,
# SSL_CERT_FILE) into the build context as build-ca.crt for it (CA certificates are public; the
# file stays in the image's COPY layer, never in a layer ZIP).
set -eu
py=$1
here=$(dirname "$0")
# Keep in step with UV_VERSION in src/runtime/python.rs (a unit test checks).
version=0.13.9
case "$(uname -m)" in
  x86_64) tag=musllinux_1_1_x86_64 sha=2c45530751517d6c3bbc69a19473f6effe47cce047bede01ffd8af7ea7b36b25 ;;
  aarch64) tag=musllinux_1_1_aarch64 sha=5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe ;;
  *)
    echo "fclayer: no uv wheel for $(uname -m); Python layers use pip" >&2
    exit 0
    ;;
esac
tmp=$(mktemp -d)
cert=""
if [ -f "$here/build-ca.crt" ]; then
  # pip's --cert replaces its roots: the image's own plus the ones given.
  cat /etc/ssl/certs/ca-certificates.crt "$here/build-ca.crt" >"$tmp/ca.crt" 2>/dev/null ||
    cp "$here/build-ca.crt" "$tmp/ca.crt"
  cert="--cert $tmp/ca.crt"
fi
echo "uv==$version --hash=sha256:$sha" >"$tmp/req.txt"
# shellcheck disable=SC2086
PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip download -q $cert --no-deps --only-binary :all: \
  --platform "$tag" --python-version 3.8 --require-hashes -r "$tmp/req.txt" -d "$tmp"
"$py" - "$tmp" "$version" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, version = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(tmp, "uv-%s-*.whl" % version))
with zipfile.ZipFile(wheel) as z, z.open("uv-%s.data/scripts/uv" % version) as src:
    with open("/usr/local/bin/uv", "wb") as dst:
        shutil.copyfileobj(src, dst)
os.chmod("/usr/local/bin/uv", 0o755)
PY
rm -rf "$tmp" "$here/build-ca.crt"
uv --version
