"""Data sources, shards and the shard loader. Importing the package registers every source module."""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in ("shards", "loader", "textloader"):
        importlib.import_module(f"{__name__}.{_m.name}")
