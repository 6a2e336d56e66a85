#!/usr/bin/env python3
"""Zip a built SAM artifact folder exactly as `sam package` / `sam deploy` do for an
AWS::Serverless::LayerVersion (samcli.lib.package.utils.make_zip_with_lambda_permissions),
without uploading anything. Run it with the SAM venv's python.

usage: sam_zip.py ARTIFACT_DIR OUT_BASENAME     (writes OUT_BASENAME.zip)
"""
import sys

from samcli.lib.package.utils import make_zip_with_lambda_permissions

if len(sys.argv) != 3:
    sys.exit(__doc__)
print(make_zip_with_lambda_permissions(sys.argv[2], sys.argv[1]))
