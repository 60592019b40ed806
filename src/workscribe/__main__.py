"""``python -m workscribe`` runs the CLI."""

from workscribe.cli import main

main()
