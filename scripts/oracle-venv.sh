#!/usr/bin/env bash
# The test oracles: Alibaba's own request signers from PyPI for `fclayer publish`, and pipenv for
# the Pipfile hash a Pipfile.lock records, in a venv under target/ (pinned versions, so a new
# release cannot change what the tests compare against). tests/publish*.rs start
# tests/support/fc_server.py with this venv's python; src/runtime/pyformats/pipfile.rs's oracle
# test runs pipenv's own hash functions with it. Idempotent: an
# existing venv whose pins match is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FCLAYER_ORACLE_VENV:-target/oracle-venv}
pins=(
  alibabacloud-tea==0.4.3
  alibabacloud-openapi-util==0.2.4
  alibabacloud-oss-v2==1.4.1
  pipenv==2026.10.3
)
stamp="$venv/.pins"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "${pins[*]}" ]]; then
  exit 0
fi
python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --no-input "${pins[@]}"
"$venv/bin/python" -c 'import alibabacloud_openapi_util.client, alibabacloud_oss_v2.signer, pipenv.project'
echo "${pins[*]}" > "$stamp"
echo "oracle-venv: $venv ready (${pins[*]})"
