"""The one console entry point: `secrets-store-csi driver|provider NAME|operator|version`.

Each subcommand imports its role lazily so that, for example, a provider process never loads the
driver's or the operator's dependencies.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from secrets_store_csi import __version__

USAGE = """usage: secrets-store-csi COMMAND [ARGS...]

commands:
  driver [flags]           run the CSI node plugin (see `secrets-store-csi driver --help`)
  provider aws|azure|vault run a provider gRPC server (see `secrets-store-csi provider NAME --help`)
  operator [flags]         run the ClusterCSIDriver operator
  version                  print the version
"""

# Each role lives in its own module with a `main(argv) -> int`.
ROLES = {
    "driver": "secrets_store_csi.driver.main",
    "provider": "secrets_store_csi.providers.main",
    "operator": "secrets_store_csi.operator.main",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "version":
        sys.stdout.write(f"{__version__}\n")
        return 0
    module_name = ROLES.get(command)
    if module_name is not None:
        role_main: Callable[[list[str]], int] = importlib.import_module(module_name).main
        return role_main(rest)
    sys.stderr.write(f"secrets-store-csi: unknown command {command!r}\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
