"""Loading routes.yaml: schema, ${VAR} interpolation, and errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.routing.config import ConfigInvalid, RoutingConfig, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent


def load(text: str, **env: str) -> RoutingConfig:
    return parse_config(text.encode(), "routes.yaml", env=env)


def errors_of(text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load(text, **env)
    return [str(e) for e in caught.value.errors]


def test_interpolates_variables_and_defaults() -> None:
    """${VAR} reads the environment; ${VAR:-default} falls back when unset or empty."""
    config = load(
        """
sources:
  github: { secret: "${GH_SECRET}" }
  gitlab: { token: "${GL_TOKEN:-fallback-token}" }
  jenkins: { token: "${EMPTY:-}" }
channels:
  hook: { type: webhook, url: "https://example.com/${PATH_PART}?k=${KEY:-none}" }
routes: [{ to: [hook] }]
""",
        GH_SECRET="s3cret",
        PATH_PART="in",
        EMPTY="",
    )
    assert config.sources["github"].secret is not None
    assert config.sources["github"].secret.get_secret_value() == "s3cret"
    token = config.sources["gitlab"].token
    assert token is not None and token.get_secret_value() == "fallback-token"
    assert not config.sources["jenkins"].configured()
    url = getattr(config.channels["hook"], "url")  # noqa: B009 - channel types vary
    assert url.get_secret_value() == "https://example.com/in?k=none"


def test_unset_variable_is_an_error_naming_it_and_its_line() -> None:
    """An unset ${VAR} without default fails, naming the variable and its line."""
    errors = errors_of(
        """channels:
  log: { type: log }
  hook: { type: webhook, url: "${HOOK_URL}" }
routes: [{ to: [log] }]
"""
    )
    assert len(errors) == 1
    assert errors[0].startswith("routes.yaml:3: ")
    assert '"HOOK_URL"' in errors[0]


def test_interpolation_line_inside_block_scalar_and_escape() -> None:
    """A reference inside a literal block reports its own line; $${ stays literal."""
    errors = errors_of(
        """channels: { log: { type: log } }
routes:
  - to: [log]
    template: |
      first line
      ${NOT_SET}
"""
    )
    assert errors == [
        'routes.yaml:6: environment variable "NOT_SET" is not set '
        "(write ${NOT_SET:-} to allow it unset)"
    ]
    config = load(
        "channels: { log: { type: log } }\nroutes: [{ to: [log], template: 'cost $${X}' }]"
    )
    template = config.decide({}).matches[0].settings.template
    assert template is not None and template.render() == "cost ${X}"


def test_values_from_environment_are_not_parsed_as_yaml() -> None:
    """An interpolated value stays one string even if it looks like YAML syntax."""
    config = load(
        """sources: { gitlab: { token: "${TOKEN}" } }
channels: { log: { type: log } }
routes: [{ to: [log] }]
""",
        TOKEN="a: [b, #c",
    )
    token = config.sources["gitlab"].token
    assert token is not None and token.get_secret_value() == "a: [b, #c"


def test_validation_errors_carry_yaml_line_numbers() -> None:
    """Each schema error points at the line of the offending node, in route-path terms."""
    errors = errors_of(
        """channels:
  log: { type: log }
routes:
  - matchers: ['kind="pipeline"']
    to: [log]
    routes:
      - matchers:
          - 'status="failure"'
          - 'project=~"(unclosed"'
        to: [log]
        group_wait: 5 minutes
        colour: red
"""
    )
    assert errors == [
        "routes.yaml:9: route 0.0: matchers[1]: matcher 'project=~\"(unclosed\"': "
        "invalid regex: missing ): (unclosed "
        "(RE2 syntax, as in Alertmanager: no backreferences or lookaround)",
        'routes.yaml:11: route 0.0: group_wait: invalid duration "5 minutes" '
        "(use e.g. 30s, 5m, 4h, 1d, 1h30m)",
        'routes.yaml:12: unknown key "colour" in route 0.0',
    ]


def test_all_errors_are_collected_across_sections() -> None:
    """Schema, channel and cross-reference errors are all reported together, in line order."""
    errors = errors_of(
        """sources:
  githob: { token: x }
channels:
  log: { type: log, colour: red }
  pager: { type: carrier-pigeon }
  hook: { type: webhook }
time_intervals:
  - { name: night, time_intervals: [{ weekdays: [someday] }] }
routes:
  - { matchers: ['kind="pipeline"'], to: [ops-slack], mute_when: [weekend] }
  - matchers: ['kind="alert"']
fallback: [audit]
"""
    )
    lines = [e.split(":")[1] for e in errors]
    assert lines == sorted(lines, key=int)
    text = "\n".join(errors)
    for expected in [
        'routes.yaml:2: unknown key "githob" in sources',
        'routes.yaml:4: unknown key "colour" in channels.log',
        "routes.yaml:5: unknown channel type 'carrier-pigeon' for channel \"pager\"",
        'routes.yaml:6: missing key "url" in channels.hook',
        "routes.yaml:8: time_intervals[0].time_intervals[0].weekdays[0]: invalid weekday",
        'routes.yaml:10: undefined channel "ops-slack" in route 0',
        'routes.yaml:10: undefined time interval "weekend" in route 0',
        'routes.yaml:12: undefined channel "audit" in fallback',
    ]:
        assert expected in text
    assert len(errors) == 8  # route 1 names no receivers: it inherits the fallback's


def test_dangling_name_in_nested_route_names_the_route_path() -> None:
    """The dangling-channel error reads as the design's example: channel, route path, line."""
    errors = errors_of(
        """channels: { log: { type: log } }
routes:
  - { to: [log] }
  - { to: [log] }
  - to: [log]
    routes:
      - { to: [log] }
      - { to: [ops-slack] }
"""
    )
    assert errors == ['routes.yaml:8: undefined channel "ops-slack" in route 2.1']


def test_yaml_syntax_error_gives_its_line() -> None:
    """A YAML syntax error is reported with the line where parsing failed."""
    errors = errors_of("channels:\n  log: { type: log }\nroutes:\n  - to: [log\n  - to: [x]\n")
    assert len(errors) == 1
    assert errors[0].startswith("routes.yaml:5: YAML syntax error")


def test_template_syntax_error_is_a_validation_error() -> None:
    """A route template that does not compile is rejected at load, with its line."""
    errors = errors_of(
        "channels: { log: { type: log } }\nroutes:\n  - { to: [log], template: '{{ x' }\n"
    )
    assert len(errors) == 1
    assert errors[0].startswith("routes.yaml:3: route 0: template: template syntax error")


def test_other_cross_references_are_checked() -> None:
    """Duplicate interval names, bad fallback_channel and duplicate keys are errors."""
    errors = errors_of(
        """channels:
  log: { type: log, fallback_channel: nowhere }
time_intervals:
  - { name: night, time_intervals: [] }
  - { name: night, time_intervals: [] }
routes: [{ to: [log] }]
routes: [{ to: [log] }]
"""
    )
    assert [e.split(": ", 1)[0] for e in errors] == [
        "routes.yaml:2",
        "routes.yaml:5",
        "routes.yaml:7",
    ]
    assert 'duplicate key "routes"' in errors[2]


def test_secrets_never_appear_in_errors_or_summary() -> None:
    """Secret values stay out of error text, the config summary and reprs."""
    secret = "hunter2-very-secret"
    text = f"""sources:
  github: {{ secret: "{secret}" }}
channels:
  hook: {{ type: webhook, url: "https://x/{secret}", bogus: 1 }}
routes: [{{ to: [hook] }}]
"""
    failure = "\n".join(errors_of(text))
    assert secret not in failure
    config = load(text.replace(", bogus: 1", ""))
    assert secret not in str(config.summary())
    assert secret not in repr(config)


def test_disabled_channels_give_a_warning() -> None:
    """A channel whose URL resolved empty loads, and the config warns it is disabled."""
    config = load(
        """channels:
  log: { type: log }
  chat: { type: slack, url: "${SLACK_URL:-}" }
routes: [{ to: [log, chat] }]
"""
    )
    assert config.warnings == ("channels disabled (URL or key resolved empty): chat",)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    """A missing file and a non-mapping document are errors naming the file."""
    with pytest.raises(ConfigInvalid, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigInvalid, match=r"list\.yaml:1: the file must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_repository_routes_yaml_is_valid_without_any_secret() -> None:
    """The shipped routes.yaml loads with an empty environment (so `make run` works)."""
    config = load_config(REPO / "routes.yaml", env={})
    assert config.routes()
    assert config.channels
    assert any(cfg.type == "log" for cfg in config.channels.values())
    assert config.warnings  # secrets unset: the provider channels are disabled, not broken


def test_boolean_looking_key_is_named(tmp_path: Path) -> None:
    """A channel named `off` (a YAML 1.1 boolean) gets an error saying to quote it."""
    path = tmp_path / "routes.yaml"
    path.write_text("channels:\n  off: { type: log }\nroutes: []\n", encoding="utf-8")
    with pytest.raises(ConfigInvalid) as raised:
        load_config(path)
    assert any(e.line == 2 and "quote it" in e.message for e in raised.value.errors)
