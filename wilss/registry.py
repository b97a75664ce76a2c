"""Components chosen by name from the config: each kind (backbones, methods, datasets, pseudo-label sources) is
one package whose modules register their entries, so adding one is a new file in that package plus its config.

    BACKBONES = Registry("backbone", "wilss.models.backbones", "model.backbone")

    @BACKBONES.register("resnet18", "resnet50", "resnet101")    # in wilss/models/backbones/resnet.py
    def build_resnet(options): ...

A lookup imports every module of the package once (so an entry is found without a list to update) and fails
with the option to change and the names that exist.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, TypeVar

from wilss.errors import WilssError

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    def __init__(self, kind: str, package: str, option: str) -> None:
        self.kind, self.package, self.option = kind, package, option
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, *names: str) -> Callable[[Entry], Entry]:
        def add(entry: Entry) -> Entry:
            for name in names:
                if name in self._entries and self._entries[name] is not entry:
                    raise ValueError(f"two {self.kind}s named {name!r} in {self.package}")
                self._entries[name] = entry
            return entry
        return add

    def _load(self) -> None:
        if not self._loaded:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{module.name}")
            self._loaded = True

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            raise WilssError(f"{self.option}={name} is not a known {self.kind}; choose one of "
                             f"{', '.join(self.names())} (or add a module to {self.package}).")
        return self._entries[name]
