"""``python -m negodissect``."""

from negodissect.cli import main

main()
