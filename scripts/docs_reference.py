"""Generate the documentation site's reference pages from the code, so they cannot drift from it.

    python scripts/docs_reference.py           # write the pages
    python scripts/docs_reference.py --check   # exit 1 naming each stale page (tests/unit/test_docs.py does this)

Pages written:
- docs/reference/configuration.md: every `MANDAT_*` setting, from `idp/settings.py` and every domain's
  `idp/<domain>/config.py` (fields declared with `env_field(name, default, doc=...)`; the passkey settings, which
  document each field in the docstring under it and read it in `from_env`, are read from the source);
- docs/reference/admin-api.md and docs/reference/openapi.json: the admin API's OpenAPI document
  (`idp.admin.openapi.build_document` over `idp.admin.views.OPERATIONS`, the table the routes come from), rendered
  to Markdown so the site builds offline.

A domain config class that declares settings in neither way makes this script fail: an undocumented setting
cannot be published silently.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONFIGURATION = ROOT / "docs" / "reference" / "configuration.md"
ADMIN_API = ROOT / "docs" / "reference" / "admin-api.md"
OPENAPI = ROOT / "docs" / "reference" / "openapi.json"
# The example issuer the published OpenAPI document names (the live one at /admin/api/v1/openapi.json names yours).
EXAMPLE_ISSUER = "https://idp.example"
ENV_NAME = re.compile(r"MANDAT_[A-Z0-9]+(?:_[A-Z0-9]+)*")
# In a field's docstring, the variable it is read from is named in parentheses: "(`MANDAT_PASSKEYS_RP_ID`)",
# "(AAGUIDs, comma list, `MANDAT_PASSKEYS_AAGUID_ALLOW_LIST`)".
READ_FROM = re.compile(r"\([^()]*?`(MANDAT_[A-Z0-9]+(?:_[A-Z0-9]+)*)`")
SECTION = re.compile(r"^\s*# --- (.+?) -+\s*$")

# Titles and one-line introductions of the domain settings, by package; a new config.py appears untitled until
# it is listed here (its settings are published either way).
DOMAIN_TITLES = {
    "admin": ("Admin API", "The administration API at `/admin/api/v1` (see [Admin API](../admin-api.md))."),
    "cards": ("CPS cards", "Card sign-in (agent and TLS client certificate), trust anchors and CRLs "
                           "(see [Operations](../operations.md#cps-card-trust-anchors-and-crls))."),
    "delegation": ("Delegation", "Who may act for whom and for how long (see [Delegation](../delegation/portals.md))."),
    "enrollment": ("Enrolment", "Citizen enrolment from the insurer registry with mailed security codes."),
    "passkeys": ("Passkeys", "WebAuthn security keys and passkeys."),
}


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    doc: str
    section: str


# --- settings ------------------------------------------------------------------------------------------------------

def _sections(source: str, cls_name: str) -> dict[str, str]:
    """Attribute name -> the `# --- heading ---` comment above it (settings.py groups its fields that way)."""
    lines = source.splitlines()
    tree = ast.parse(source)
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            heading = ""
            previous_end = node.lineno
            for item in node.body:
                for line in lines[previous_end:item.lineno - 1]:
                    match = SECTION.match(line)
                    if match:
                        heading = match.group(1).strip()
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    found[item.target.id] = heading
                previous_end = item.end_lineno or item.lineno
    return found


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "empty" if text == "" else f"`{text}`"


def env_field_settings(cls: type) -> list[Setting]:
    """Settings declared with `env_field` (the field's metadata holds the variable and its documentation)."""
    module = sys.modules[cls.__module__]
    source = Path(module.__file__ or "").read_text()
    sections = _sections(source, cls.__name__)
    found = []
    for f in dataclasses.fields(cls):
        name = f.metadata.get("env")
        if name is None:
            continue
        found.append(Setting(name, _default_text(f.default), str(f.metadata["doc"]), sections.get(f.name, "")))
    return found


def docstring_settings(cls: type) -> list[Setting]:
    """Settings documented by the docstring under each field, naming the variable (`MANDAT_…`) they are read from,
    with the default `from_env` gives `env.get(name, default)` (the passkey settings)."""
    module = sys.modules[cls.__module__]
    tree = ast.parse(Path(module.__file__ or "").read_text())
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    defaults: dict[str, str] = {}
    for call in ast.walk(node):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "get"
                and len(call.args) == 2 and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str) and call.args[0].value.startswith("MANDAT_")):
            default = call.args[1]
            if isinstance(default, ast.Constant):
                defaults[call.args[0].value] = _default_text(default.value)
            else:
                defaults[call.args[0].value] = f"computed: `{ast.unparse(default)}`"
    found = []
    body = node.body
    for index, item in enumerate(body):
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        if not (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            continue
        doc = " ".join(following.value.value.split())
        match = READ_FROM.search(doc)
        if match is None:
            continue  # a derived attribute (e.g. `enabled`), not read from the environment
        name = match.group(1)
        doc = doc.replace(f" (`{name}`)", "").replace(f"(`{name}`, ", "(").replace(f", `{name}`", "")
        found.append(Setting(name, defaults.get(name, "see below"), doc, ""))
    return found


def settings_of(cls: type) -> list[Setting]:
    if any("env" in f.metadata for f in dataclasses.fields(cls)):
        return env_field_settings(cls)
    return docstring_settings(cls)


def domain_config_classes() -> Iterator[tuple[str, type]]:
    for path in sorted((ROOT / "idp").glob("*/config.py")):
        package = path.parent.name
        module = importlib.import_module(f"idp.{package}.config")
        for value in vars(module).values():
            if not (isinstance(value, type) and dataclasses.is_dataclass(value)
                    and value.__module__ == module.__name__):
                continue
            if settings_of(value):
                yield package, value
            elif value.__name__.endswith("Settings"):
                raise SystemExit(f"idp/{package}/config.py: {value.__name__} declares no documented MANDAT_* "
                                 "setting (declare each with env_field(name, default, doc=...))")
            # else: a value class (e.g. an age band), not settings


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def setting_rows(settings: list[Setting], *, skip: set[str]) -> list[str]:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in settings:
        if s.name in skip:
            continue
        rows.append(f"| `{s.name}` | {_cell(s.default)} | {_cell(s.doc)} |")
    return rows


def configuration_page() -> str:
    from idp.settings import Settings

    core = env_field_settings(Settings)
    out = [
        "<!-- Generated by scripts/docs_reference.py from idp/settings.py and idp/*/config.py: do not edit. -->",
        "",
        "# Configuration reference",
        "",
        "Mandat reads its settings from `MANDAT_*` environment variables, once, at start-up; every command "
        "(`python -m idp …`) reads the same ones. A bad value stops start-up with a message naming the variable. "
        "This page is generated from the documentation written next to each setting in the code "
        "(`idp/settings.py` and each domain's `idp/<domain>/config.py`), and a test fails when it is stale: "
        "run `python scripts/docs_reference.py` after changing a setting.",
        "",
        "Durations are in seconds unless the name says otherwise. *unset* means the variable has no value by "
        "default; *empty* means an empty string.",
        "",
        "## Core",
        "",
    ]
    sections: dict[str, list[Setting]] = {}
    for s in core:
        sections.setdefault(s.section or "other", []).append(s)
    for section, items in sections.items():
        out += [f"### {section[:1].upper()}{section[1:]}", "", *setting_rows(items, skip=set()), ""]
    core_names = {s.name for s in core}
    for package, cls in domain_config_classes():
        title, intro = DOMAIN_TITLES.get(package, (package.capitalize(), ""))
        found = settings_of(cls)
        out += [f"## {title}", "", f"`idp/{package}/config.py` ({cls.__name__}). {intro}".rstrip(), ""]
        shared = sorted({s.name for s in found} & core_names)
        if shared:
            out += [f"Also reads {', '.join(f'`{n}`' for n in shared)} (above).", ""]
        out += [*setting_rows(found, skip=core_names), ""]
    return "\n".join(out).rstrip() + "\n"


def documented_variables() -> set[str]:
    from idp.settings import Settings

    names = {s.name for s in env_field_settings(Settings)}
    for _package, cls in domain_config_classes():
        names.update(s.name for s in settings_of(cls))
    return names


# --- admin API -------------------------------------------------------------------------------------------------------

def openapi_document() -> dict[str, Any]:
    from idp.admin.openapi import build_document
    from idp.admin.views import OPERATIONS

    return build_document(OPERATIONS, issuer=EXAMPLE_ISSUER)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A short human reading of a JSON Schema: `string`, `array of Scope`, `"a" | "b"`, `ClientOut | null`."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{name.lower()})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " \\| ".join(type_of(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    if isinstance(kind, list):
        return " \\| ".join(kind)
    text = str(kind or "any")
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "≥"),
                       ("maximum", "≤"), ("minItems", "min items"), ("maxItems", "max items")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            if option.get("type") != "null":
                parts.extend(p for p in [constraints(option)] if p)
    if schema.get("items"):
        inner = constraints(schema["items"])
        if inner:
            parts.append(f"each: {inner}")
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return "; ".join(parts)


def properties_table(schema: dict[str, Any]) -> list[str]:
    props = schema.get("properties", {})
    if not props:
        return []
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | notes |", "|---|---|---|---|"]
    for name, prop in props.items():
        notes = " ".join(x for x in (prop.get("description", ""), constraints(prop)) if x)
        rows.append(f"| `{name}` | {type_of(prop)} | {'yes' if name in required else 'no'} | {_cell(notes)} |")
    return rows


def admin_api_page(document: dict[str, Any]) -> str:
    info = document["info"]
    out = [
        "<!-- Generated by scripts/docs_reference.py from idp/admin (OpenAPI document): do not edit. -->",
        "",
        "# Admin API reference",
        "",
        f"OpenAPI {document['openapi']}, version {info['version']}. {info['description']}",
        "",
        "Every server serves this document at `/admin/api/v1/openapi.json` (with its own issuer in `servers`); the "
        "copy here, generated from the same code with the example issuer `https://idp.example`, is "
        "[openapi.json](openapi.json). The [Admin API guide](../admin-api.md) walks through a session with curl.",
        "",
        "## Scopes",
        "",
        "| scope | allows |",
        "|---|---|",
    ]
    scheme = document["components"]["securitySchemes"]["admin"]
    for scope, text in scheme["flows"]["clientCredentials"]["scopes"].items():
        out.append(f"| `{scope}` | {_cell(text)} |")
    out += ["", "## Operations", ""]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            by_tag.setdefault(operation["tags"][0], []).append((method.upper(), path, operation))
    for tag, operations in by_tag.items():
        out += [f"### {tag.capitalize()}", ""]
        for method, path, operation in operations:
            scope = operation["security"][0]["admin"][0]
            out += [f"#### `{method} {path}`", "", f"{operation['summary']}. Scope `{scope}`.", ""]
            if operation.get("description"):
                out += [operation["description"], ""]
            parameters = operation.get("parameters", [])
            if parameters:
                out += ["| parameter | in | type | required | notes |", "|---|---|---|---|---|"]
                for p in parameters:
                    notes = " ".join(x for x in (p.get("description", ""), constraints(p["schema"])) if x)
                    out.append(f"| `{p['name']}` | {p['in']} | {type_of(p['schema'])} | "
                               f"{'yes' if p.get('required') else 'no'} | {_cell(notes)} |")
                out.append("")
            body = operation.get("requestBody")
            if body:
                schema = body["content"]["application/json"]["schema"]
                out += [f"Request body ({'required' if body.get('required') else 'optional'}): "
                        f"{type_of(schema)}.", ""]
            out += ["| status | meaning | body |", "|---|---|---|"]
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                media, entry = next(iter(content.items())) if content else ("", {})
                shape = f"{type_of(entry.get('schema', {}))} (`{media}`)" if media else ""
                out.append(f"| {status} | {_cell(response['description'])} | {shape} |")
            out.append("")
    out += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [" ".join(schema["description"].split()), ""]
        table = properties_table(schema)
        if table:
            out += [*table, ""]
        elif "enum" in schema or "type" in schema:
            out += [f"{type_of(schema)}", ""]
    return "\n".join(out).rstrip() + "\n"


# --- main ------------------------------------------------------------------------------------------------------------

def pages() -> dict[Path, str]:
    document = openapi_document()
    return {
        CONFIGURATION: configuration_page(),
        ADMIN_API: admin_api_page(document),
        OPENAPI: json.dumps(document, indent=2, ensure_ascii=False) + "\n",
    }


def stale_pages() -> list[Path]:
    return [path for path, text in pages().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which pages are stale (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run python scripts/docs_reference.py)")
        return 1 if stale else 0
    for path, text in pages().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
