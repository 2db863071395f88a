"""`python -m app …` is `signalbox …`: how `serve --workers N` starts its children."""

from app.cli import main

main()
