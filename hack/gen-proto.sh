#!/usr/bin/env bash
# Regenerates the Python gRPC modules from the .proto files under plugin/src/secrets_store_csi/proto.
# The generated files are committed; `make proto-check` fails when they are stale.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/plugin/src"
py=${PYTHON:-python3}
cd "$src"
find secrets_store_csi/proto -name '*.proto' -print0 | while IFS= read -r -d '' proto; do
  "$py" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. "$proto"
done
