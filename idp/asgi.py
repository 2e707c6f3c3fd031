"""ASGI entry point for uvicorn: `idp.asgi:app`, configured from the environment."""

from idp.app import create_app
from idp.settings import Settings

app = create_app(Settings.from_env())
