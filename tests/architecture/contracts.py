"""The import-linter contracts `make lint` checks, derived from the package layout:
every domain is a leaf (other domains reach it only through its models, schemas and
queries), and shared plumbing never reaches into a domain beyond its models.

`python -m tests.architecture.contracts` prints the [tool.importlinter] section for
pyproject.toml; tests/architecture/test_contracts.py fails when pyproject.toml's
section differs (a new module or domain needs the contracts regenerated)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
# What a domain exposes to the others.
PUBLIC = ("models", "schemas", "queries")
# Layers above the domains (and the modules that compose them).
ABOVE_DOMAINS = ("app.actions", "app.worker", "app.main", "app.cli", "app.demo")
NOT_DOMAINS = {"actions", "console", "access", "__pycache__"}
# Plumbing kept as a package (who is calling and what it may do).
PLUMBING_PACKAGES = ("app.access",)


def domains() -> list[str]:
    return sorted(
        p.name
        for p in APP.iterdir()
        if p.is_dir() and p.name not in NOT_DOMAINS and (p / "__init__.py").exists()
    )


def domain_modules(domain: str) -> list[str]:
    return sorted(p.stem for p in (APP / domain).glob("*.py") if p.stem != "__init__")


def plumbing() -> list[str]:
    top = sorted(p.stem for p in APP.glob("*.py") if p.stem != "__init__")
    modules = [f"app.{m}" for m in top if f"app.{m}" not in ABOVE_DOMAINS and m != "models"]
    return sorted([*modules, *PLUMBING_PACKAGES])


def private_modules(domain: str) -> list[str]:
    return [f"app.{domain}.{m}" for m in domain_modules(domain) if m not in PUBLIC]


def _list(name: str, items: list[str]) -> list[str]:
    return [f"{name} = ["] + [f'    "{item}",' for item in items] + ["]"]


def render() -> str:
    lines = ["[tool.importlinter]", 'root_package = "app"', ""]
    all_domains = domains()
    for domain in all_domains:
        forbidden = [m for other in all_domains if other != domain for m in private_modules(other)]
        lines += [
            "[[tool.importlinter.contracts]]",
            f'name = "{domain} is a leaf: other domains only through models, schemas, queries"',
            'type = "forbidden"',
            f'source_modules = ["app.{domain}"]',
            *_list("forbidden_modules", [*forbidden, *ABOVE_DOMAINS]),
            f'ignore_imports = ["app.{domain}.api -> app.actions.**"]',
            "allow_indirect_imports = true",
            'unmatched_ignore_imports_alerting = "none"',
            "",
        ]
    lines += [
        "[[tool.importlinter.contracts]]",
        'name = "layers: command line > app > worker > actions > domains and plumbing"',
        'type = "layers"',
        'layers = ["app.cli", "app.main", "app.worker", "app.actions"]',
        'ignore_imports = ["app.*.api -> app.actions.**"]',
        'unmatched_ignore_imports_alerting = "none"',
        "",
        "[[tool.importlinter.contracts]]",
        'name = "shared plumbing never imports domain code beyond models, schemas, queries"',
        'type = "forbidden"',
        *_list("source_modules", plumbing()),
        *_list(
            "forbidden_modules",
            [*ABOVE_DOMAINS, *(m for d in all_domains for m in private_modules(d))],
        ),
        "allow_indirect_imports = true",
        "",
    ]
    return "\n".join(lines)


def current() -> str:
    """The [tool.importlinter] section of pyproject.toml, as it stands."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    start = text.index("[tool.importlinter]")
    return text[start:].rstrip("\n") + "\n"


if __name__ == "__main__":
    print(render())
