"""vidgate: a self-hosted unified video generation API implementing the API Mall contract."""

__version__ = "0.1.0"
