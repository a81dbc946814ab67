"""One module per app tab, each with `build(services)`."""
