"""Generate the deploy artefacts that must follow the code, so they cannot drift from it.

Two things are generated, both from the code that owns them:

- the topic list (names, partitions, configs of every v1 topic and its ``.dlq``) from
  ``torghut_contracts.topics``: ``deploy/compose/topics.txt`` for compose and the
  ``topics.specs`` block of the chart's ``values.yaml``;
- every environment variable each service reads, with its default, from the service's settings
  class (a ``torghut_runtime.ServiceSettings`` subclass): ``deploy/compose/settings.yml`` (the
  ``environment`` each compose service extends) and the ``config`` / ``secretEnv`` block of each
  service in ``values.yaml``.

- the ClickHouse tables' DDL (``deploy/clickhouse/init/001-ta-tables.sql``) from
  ``torghut_strategies.clickhouse.schema``, the one definition the sink and signal-trigger's tests use;
- the feature-flag variables (``TRADING_FEATURE_FLAGS_*``, ``torghut_runtime.flags``), which every
  service reads, in each compose service's environment; and a copy of ``deploy/flags/features.yaml``
  in the chart (``files/flags/features.yaml``, what its Flipt server serves).

What a settings class reads is worked out by ``deploy/settings_env.py``; what each target sets
instead of the defaults is in ``deploy/service_values.py``; ``deploy/renderers.py`` renders the topic
list and the environments; this script puts the rendered blocks into ``values.yaml`` and writes (or
checks) every file.

Run ``uv run python deploy/generate.py`` after changing a topic or a settings class;
``--check`` (used by tests/deploy) exits 1 and names every stale file instead of writing.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
if str(DEPLOY) not in sys.path:  # loaded by path (tests/deploy) rather than run as a script
    sys.path.insert(0, str(DEPLOY))

# The `X as X` names are not used here: tests/deploy load this script as a module (their `generator`
# fixture) and reach them through it.
from renderers import _fallback_vars as _fallback_vars  # noqa: E402
from renderers import render_compose_settings, render_topics_txt, render_values_service, render_values_topics  # noqa: E402
from renderers import service_env as service_env  # noqa: E402
from renderers import topic_rows as topic_rows  # noqa: E402
from service_values import CHART_MANAGED_VARS as CHART_MANAGED_VARS  # noqa: E402
from service_values import COMPOSE_DEFAULT_SERVICES as COMPOSE_DEFAULT_SERVICES  # noqa: E402
from service_values import COMPOSE_SERVICE_VALUES as COMPOSE_SERVICE_VALUES  # noqa: E402
from service_values import COMPOSE_VALUES as COMPOSE_VALUES  # noqa: E402
from service_values import GLOBAL_VARS as GLOBAL_VARS  # noqa: E402
from service_values import HELM_SERVICE_VALUES as HELM_SERVICE_VALUES  # noqa: E402
from service_values import SERVICES  # noqa: E402
from settings_env import env_names as env_names  # noqa: E402
from settings_env import env_vars as env_vars  # noqa: E402
from settings_env import settings_class  # noqa: E402

TOPICS_TXT = DEPLOY / "compose" / "topics.txt"
COMPOSE_SETTINGS = DEPLOY / "compose" / "settings.yml"
VALUES_YAML = DEPLOY / "helm" / "torghut" / "values.yaml"
FEATURES_YAML = DEPLOY / "flags" / "features.yaml"
CHART_FEATURES_YAML = DEPLOY / "helm" / "torghut" / "files" / "flags" / "features.yaml"
CLICKHOUSE_INIT_SQL = DEPLOY / "clickhouse" / "init" / "001-ta-tables.sql"


# -- regions in values.yaml -------------------------------------------------------------------------
def _marker(kind: str, name: str) -> tuple[str, str]:
    return (f"# >>> generated {kind} {name}: deploy/generate.py writes this block, do not edit",
            f"# <<< generated {kind} {name}")


def replace_region(text: str, kind: str, name: str, body: str) -> str:
    begin, end = _marker(kind, name)
    pattern = re.compile(rf"(?P<indent>[ ]*){re.escape(begin)}\n.*?(?P=indent){re.escape(end)}\n", re.S)
    match = pattern.search(text)
    if match is None:
        raise RuntimeError(f"{VALUES_YAML.relative_to(ROOT)}: no '{begin}' ... '{end}' block")
    indent = match.group("indent")
    return text[:match.start()] + f"{indent}{begin}\n{body}{indent}{end}\n" + text[match.end():]


def render_values(current: str) -> str:
    text = replace_region(current, "topics", "specs", render_values_topics())
    for service in SERVICES:
        text = replace_region(text, "settings", service, render_values_service(service))
    return text


def expected_files() -> dict[Path, str]:
    return {
        TOPICS_TXT: render_topics_txt(),
        COMPOSE_SETTINGS: render_compose_settings(),
        VALUES_YAML: render_values(VALUES_YAML.read_text()),
        CHART_FEATURES_YAML: FEATURES_YAML.read_text(),
        CLICKHOUSE_INIT_SQL: clickhouse_init_sql(),
    }


def clickhouse_init_sql() -> str:
    from torghut_strategies.clickhouse import schema

    return schema.init_sql()


def stale_files(expected: dict[Path, str] | None = None) -> list[Path]:
    expected = expected_files() if expected is None else expected
    return [path for path, text in expected.items() if not path.exists() or path.read_text() != text]


def missing_services() -> list[str]:
    """Services whose settings module does not exist yet."""
    return [service for service in SERVICES if settings_class(SERVICES[service]) is None]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/generate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale; write nothing")
    args = parser.parse_args(list(argv) if argv is not None else None)
    expected = expected_files()
    stale = stale_files(expected)
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `uv run python deploy/generate.py`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[path])
        print(f"wrote {path.relative_to(ROOT)}")
    for service in missing_services():
        print(f"note: {SERVICES[service]}.settings does not exist yet; {service} gets the common variables only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
