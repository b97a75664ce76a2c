"""Check the container files: every pin agrees with docker/versions.env, and the Apptainer def file is whole.

    python scripts/check_containers.py [REPO_ROOT]

Versions: the Dockerfile's ARG defaults, the def file's and compose file's image, and the torch and torchvision
pins of constraints.txt (the lock file of every other install) against docker/versions.env; pyproject.toml's
ranges must admit those pins. Def file: spython must parse it, and since spython accepts
anything (no `From:`, unknown sections), the header and the sections the kit relies on are checked here.
Prints each problem (file, what, both values) and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

DOCKERFILE_ARGS = ("UBUNTU_VERSION", "CUDA_VERSION", "CUDNN_FLAVOUR", "PYTHON_VERSION", "TORCH_VERSION",
                   "TORCHVISION_VERSION", "TORCH_INDEX_URL", "TORCH_CUDA_ARCH_LIST")


def read_env(path: Path) -> dict[str, str]:
    pairs = re.findall(r"^([A-Z_]+)=(.*)$", path.read_text(), flags=re.M)
    return {key: value.strip().strip('"') for key, value in pairs}


def dockerfile_args(path: Path) -> dict[str, list[str]]:
    """Every default given to each ARG (one per stage that declares it)."""
    found: dict[str, list[str]] = {}
    for key, value in re.findall(r"^ARG ([A-Z_]+)=(.*)$", path.read_text(), flags=re.M):
        found.setdefault(key, []).append(value.strip().strip('"'))
    return found


def def_base_image(path: Path) -> str | None:
    match = re.search(r"^From:\s*(\S+)", path.read_text(), flags=re.M)
    return match.group(1) if match else None


DEF_SECTIONS = {"labels", "environment", "runscript", "test", "help", "post", "files", "setup", "startscript",
                "app", "apprun", "applabels", "appinstall", "appenv", "apphelp", "appfiles", "apptest"}
DEF_REQUIRED = ("environment", "runscript", "test", "help")


def def_file_problems(path: Path, image: str | None) -> list[str]:
    from spython.main.parse.parsers import SingularityParser

    text = path.read_text()
    problems = []
    try:
        SingularityParser(str(path))
    except Exception as err:  # noqa: BLE001 - any parser failure is the finding
        problems.append(f"{path.name}: spython cannot parse it ({err})")
    bootstrap = re.search(r"^Bootstrap:\s*(\S+)", text, flags=re.M)
    if not bootstrap or bootstrap.group(1) not in ("docker-daemon", "docker"):
        problems.append(f"{path.name}: Bootstrap must be docker-daemon (local Docker image) or docker (registry)")
    base = def_base_image(path)
    if image and (base is None or not (base == image or base.endswith("/" + image))):
        problems.append(f"{path.name}: From: {base}, versions.env has WILSS_IMAGE={image}")
    sections = re.findall(r"^%(\w+)", text, flags=re.M)
    problems += [f"{path.name}: unknown section %{name}" for name in sections if name not in DEF_SECTIONS]
    problems += [f"{path.name}: missing section %{name}" for name in DEF_REQUIRED if name not in sections]
    if "wilss.doctor --inplace-abn" not in text.split("%test", 1)[-1]:
        problems.append(f"{path.name}: %test must run python -m wilss.doctor --inplace-abn")
    return problems


def constraint_pins(path: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), flags=re.M)}


def pyproject_ranges(path: Path) -> dict[str, SpecifierSet]:
    """torch's and torchvision's version ranges in [project] dependencies."""
    requirements = [Requirement(text) for text in re.findall(r'^\s*"(torch(?:vision)?[<>=!~ ][^"]*)"', path.read_text(), flags=re.M)]
    return {req.name: req.specifier for req in requirements if req.name in ("torch", "torchvision")}


def pin_problems(root: Path, pinned: dict[str, str]) -> list[str]:
    pins = constraint_pins(root / "constraints.txt")
    ranges = pyproject_ranges(root / "pyproject.toml")
    problems = []
    for package, key in (("torch", "TORCH_VERSION"), ("torchvision", "TORCHVISION_VERSION")):
        if pins.get(package) != pinned.get(key):
            problems.append(f"constraints.txt: {package}=={pins.get(package)}, versions.env has {key}={pinned.get(key)}")
        if package not in ranges or pinned.get(key, "") not in ranges[package]:
            problems.append(f"pyproject.toml: {package} range '{ranges.get(package, 'missing')}' does not admit "
                            f"versions.env's {key}={pinned.get(key)}")
    return problems


def disagreements(root: Path) -> list[str]:
    pinned = read_env(root / "docker" / "versions.env")
    problems = [f"docker/versions.env: {key} is missing" for key in (*DOCKERFILE_ARGS, "WILSS_IMAGE",
                                                                      "INPLACE_ABN_VERSION") if key not in pinned]
    for key, values in dockerfile_args(root / "docker" / "Dockerfile").items():
        problems += [f"docker/Dockerfile: ARG {key}={value}, versions.env has {pinned[key]!r}"
                     for value in values if key in pinned and value != pinned[key]]
    problems += [f"docker/Dockerfile: no ARG {key}" for key in DOCKERFILE_ARGS
                 if key not in dockerfile_args(root / "docker" / "Dockerfile")]
    problems += def_file_problems(root / "singularity" / "wilss.def", pinned.get("WILSS_IMAGE"))
    for image in re.findall(r"^\s*image:\s*(\S+)", (root / "docker" / "compose.yaml").read_text(), flags=re.M):
        if image != pinned.get("WILSS_IMAGE"):
            problems.append(f"docker/compose.yaml: image {image}, versions.env has WILSS_IMAGE={pinned.get('WILSS_IMAGE')}")
    problems += pin_problems(root, pinned)
    return problems


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    problems = disagreements(root)
    for problem in problems:
        print(problem)
    print("container files agree with docker/versions.env" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
