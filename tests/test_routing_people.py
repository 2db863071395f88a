"""The `people:` directory and a route's `mention:`: whom each route @-s for an event."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.bus.plan import route_mentions
from app.events import Event
from app.routing.config import ConfigInvalid, RoutingConfig, parse_config
from app.sources import SOURCE_MODULES
from fixtures import load, payload
from providers.dingtalk import FakeDingTalk
from providers.sample import alert_event, pipeline_event
from service import serve, wait_until

ROUTES = """
people:
  张三:
    ids: [zhangsan, Zhang.San@example.com]
    dingtalk_mobile: "13800000000"
    wecom: ZhangSan
  支付组:
    ids: [payments]
    feishu: ou_0123456789abcdef
channels:
  ding: { type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=t" }
routes:
  - matchers: ['kind="pipeline"']
    to: [ding]
    mention: [actor]
    routes:
      - matchers: ['branch="release"']
  - matchers: ['kind="alert"']
    to: [ding]
    mention: [label:owner, actor]
  - to: [ding]
"""


def config(text: str = ROUTES) -> RoutingConfig:
    return parse_config(text.encode(), "routes.yaml", env={})


def names(path: str, *events: Event) -> list[tuple[str, dict[str, str]]]:
    return [
        (m.name, {str(k): v for k, v in m.handles.items()})
        for m in route_mentions(config())(path, events)
    ]


def test_the_actor_of_a_failure_is_found_by_any_of_their_ids() -> None:
    """`mention: [actor]` finds the person whose ids hold the actor, ignoring case; a
    child route inherits `mention`; a route without it names no one."""
    event = pipeline_event(1, actor="ZhangSan")
    zhang = ("张三", {"dingtalk_mobile": "13800000000", "wecom": "ZhangSan"})
    assert names("0", event) == [zhang]
    assert names("0.0", pipeline_event(2, actor="zhang.san@EXAMPLE.com")) == [zhang]
    assert names("2", event) == []


def test_unknown_people_are_named_and_good_news_mentions_no_one() -> None:
    """An actor no entry knows comes back as a name without handles; a fix, a success or
    a running pipeline mentions nobody; the same person in two events is named once."""
    assert names("0", pipeline_event(1, actor="wangwu")) == [("wangwu", {})]
    assert names("0", pipeline_event(1, "success", actor="zhangsan")) == []
    assert names("0", pipeline_event(1, "running", actor="zhangsan")) == []
    both = names("0", pipeline_event(1, actor="zhangsan"), pipeline_event(2, actor="ZHANGSAN"))
    assert [name for name, _ in both] == ["张三"]


def test_an_alert_label_names_a_team() -> None:
    """`label:owner` on a firing alert finds the team's entry; an alert without the label
    and without an actor mentions no one."""
    alert = alert_event(1)
    owned = alert.model_copy(update={"labels": {**alert.labels, "owner": "payments"}})
    assert names("1", owned) == [("支付组", {"feishu": "ou_0123456789abcdef"})]
    assert names("1", alert) == []


def test_at_most_ten_people_are_mentioned() -> None:
    """A storm of forty authors @-s the first ten."""
    events = [pipeline_event(i, actor=f"dev{i}") for i in range(40)]
    assert [n for n, _ in names("0", *events)] == [f"dev{i}" for i in range(10)]


def test_the_commit_author_is_found_by_their_e_mail() -> None:
    """GitHub's head_commit and GitLab's pipeline commit give the author's e-mail as the
    `author_email` label, which `mention: [label:author_email]` finds in `people:` ids; a
    redacted address gives no label."""
    github = payload("github/workflow_run.in_progress.json")
    github["workflow_run"]["conclusion"], github["workflow_run"]["status"] = "failure", "completed"
    github["workflow_run"]["head_commit"]["author"]["email"] = "Zhang.San@example.com"
    gitlab = payload("gitlab/pipeline_hook.failed.json")
    [redacted] = SOURCE_MODULES["gitlab"].parse({"x-gitlab-event": "Pipeline Hook"}, gitlab)
    assert "author_email" not in redacted.labels
    gitlab["commit"]["author"]["email"] = "zhang.san@example.com"
    [from_gitlab] = SOURCE_MODULES["gitlab"].parse({"x-gitlab-event": "Pipeline Hook"}, gitlab)
    [from_github] = SOURCE_MODULES["github"].parse({"x-github-event": "workflow_run"}, github)
    assert from_github.labels["author_email"] == "Zhang.San@example.com"
    routes = ROUTES.replace("mention: [actor]\n", "mention: [label:author_email]\n", 1)
    mentions = route_mentions(config(routes))
    for event in (from_gitlab, from_github):
        assert [m.name for m in mentions("0", [event])] == ["张三"]


@pytest.mark.parametrize(
    ("replace", "line", "words"),
    [
        ('dingtalk_mobile: "13800000000"', 5, "dingtalk_mobile must be a mobile number"),
        ("wecom: ZhangSan", 6, "wecom must be a WeCom user id"),
        ("feishu: ou_0123456789abcdef", 9, "feishu must be a Feishu open_id"),
        ("mention: [actor]\n", 15, "write actor or label:<name>"),
    ],
)
def test_a_bad_handle_or_mention_is_an_error_with_its_line(
    replace: str, line: int, words: str
) -> None:
    """A handle that is not its provider's shape, or a `mention:` that is neither actor nor
    label:<name>, is refused naming file and line."""
    bad = {
        'dingtalk_mobile: "13800000000"': 'dingtalk_mobile: "call me"',
        "wecom: ZhangSan": "wecom: <@all>",
        "feishu: ou_0123456789abcdef": "feishu: '<at id=all></at>'",
        "mention: [actor]\n": "mention: [author]\n",
    }[replace]
    with pytest.raises(ConfigInvalid) as caught:
        config(ROUTES.replace(replace, bad, 1))
    [error] = caught.value.errors
    assert error.file == "routes.yaml" and error.line == line, error
    assert words in str(error)


def test_the_person_who_broke_main_is_at_ed_by_the_robot(
    tmp_path: Path, fake_dingtalk: FakeDingTalk
) -> None:
    """A GitLab failure by `raquezha` reaches the DingTalk robot @-ing their mobile, in the
    text and in `at`, so DingTalk notifies them."""
    url = fake_dingtalk.base_url + fake_dingtalk.robot("tok")
    routes = f"""
sources:
  gitlab: {{ token: "gl-token" }}
people:
  Raquel:
    ids: [raquezha]
    dingtalk_mobile: "13800000001"
channels:
  ding: {{ type: dingtalk, url: "{url}" }}
routes:
  - matchers: ['status="failure"']
    to: [ding]
    mention: [actor]
"""
    fixture = load("gitlab/pipeline_hook.failed.json")
    headers = {**fixture.headers, "content-type": "application/json", "x-gitlab-token": "gl-token"}
    with serve(tmp_path, routes) as client:
        response = client.post("/hooks/gitlab", content=fixture.body, headers=headers)
        assert response.status_code == 202, response.text
        wait_until(lambda: bool(fake_dingtalk.notified), within=10)
    assert fake_dingtalk.notified == [{"13800000001"}]
    assert "@13800000001 请关注并处理" in fake_dingtalk.requests[0].json()["markdown"]["text"]
