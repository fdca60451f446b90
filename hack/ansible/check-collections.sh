#!/usr/bin/env bash
# The collections the roles use must be present at the versions requirements.yml pins (the PyPI `ansible`
# package bundles them; no Galaxy server is needed). Fails naming the collection and both versions.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
while read -r name version; do
  found=$(ansible-galaxy collection list "$name" --format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(next((v["version"] for p in d.values() for n,v in p.items() if n==sys.argv[1]), ""))' "$name")
  if [[ $found != "$version" ]]; then
    echo "collection $name: requirements.yml pins $version, found '${found:-none}'." \
         "Install the pinned ansible package (make ansible-venv) or run ansible-galaxy collection install -r requirements.yml" >&2
    status=1
  else
    echo "collection $name $found (pinned in requirements.yml)"
  fi
done < <(python3 -c 'import yaml; [print(c["name"], c["version"]) for c in yaml.safe_load(open("requirements.yml"))["collections"]]')
exit $status
