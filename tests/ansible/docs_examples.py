"""The manifests under docs/examples/ and how the cluster tier exercises each (test_lifecycle_cluster.py).

`make test-ansible` checks that this table names every file there: an example nobody applies cannot be added.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "docs" / "examples"

# file -> how it is applied: "mount" = applied as written (environment-specific parameters aside) and its pod
# must read the secret from the emulator; "dry-run" = every object accepted by a server-side dry run (the
# backend cannot be reached from pods here).
EXAMPLES = {
    "aws.yaml": "mount",
    "vault.yaml": "mount",
    "azure.yaml": "dry-run",
}
