"""The HTTP edge of Wangge: FastAPI routes over the service functions."""
