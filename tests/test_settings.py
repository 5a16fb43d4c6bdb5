"""Settings: precedence, defaults resolved in one place, one-line errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from pipeline.core import validate
from pipeline.core.settings import ArgSettings, Settings, SettingsError, load_settings
from tests.conftest import FIXTURE


def test_defaults_keep_go_toolchain_defaults():
    s = load_settings()
    assert s.go_module_env() == {}
    assert s.goflags == "-mod=readonly"
    assert s.platforms == ["linux/amd64"]
    assert s.git_ref.startswith("v3.8.")


def test_env_and_dotenv_and_flags_precedence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("FLAMENCO_PIPELINE_NODE_IMAGE=node:22-from-dotenv\nFLAMENCO_PIPELINE_TAG=from-dotenv\n")
    monkeypatch.setenv("FLAMENCO_PIPELINE_TAG", "from-env")
    s = load_settings()
    assert s.node_image == "node:22-from-dotenv" and s.tag == "from-env"
    assert load_settings(tag="from-flag").tag == "from-flag"


def test_users_own_goproxy_is_passed_through(monkeypatch):
    monkeypatch.setenv("GOPROXY", "https://goproxy.corp.example|https://second.corp.example,direct")
    assert load_settings().go_module_env() == {"GOPROXY": "https://goproxy.corp.example|https://second.corp.example,direct"}


def test_arg_settings_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("GOPROXY", "direct")
    monkeypatch.setenv("FLAMENCO_PIPELINE_TAG", "x")
    s = ArgSettings()
    assert s.goproxy is None and s.tag is None


@pytest.mark.parametrize(
    "kwargs,setting",
    [
        ({"goproxy": "direct"}, "goproxy"),
        ({"goproxy": "off"}, "goproxy"),
        ({"goproxy": "https://a.example,,direct"}, "goproxy"),
        ({"goproxy": "ftp://a.example"}, "goproxy"),
        ({"goproxy": "https://user:pw@a.example"}, "goproxy"),
        ({"gosumdb": "off"}, "gosumdb"),
        ({"goprivate": "*"}, "goprivate"),
        ({"runtime_image": "Debian:Bookworm Slim"}, "runtime_image"),
        ({"go_image": "golang:1.26@sha256:abc"}, "go_image"),
        ({"tag": "-bad"}, "tag"),
        ({"platforms": "linux/riscv64"}, "platforms"),
        ({"platforms": "linux/amd64,linux/amd64"}, "platforms"),
        ({"version": "three"}, "version"),
        ({"release_cycle": "nightly"}, "release_cycle"),
        ({"git_ref": "v3..8"}, "git_ref"),
        ({"git_hash": "XYZ"}, "git_hash"),
        ({"go_version": "2.0"}, "go_version"),
        ({"step_timeout": 1}, "step_timeout"),
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert"),
    ],
)
def test_bad_values_give_one_line_naming_the_setting(kwargs, setting):
    with pytest.raises(SettingsError) as err:
        load_settings(**kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"invalid setting {setting}=")


def test_opt_in_allows_unsafe_go_settings():
    s = load_settings(goproxy="direct", gosumdb="off", allow_unsafe_go_modules=True)
    assert s.go_module_env() == {"GOPROXY": "direct", "GOSUMDB": "off"}


def test_go_default_style_fallback_to_direct_is_fine():
    assert load_settings(goproxy="https://goproxy.corp.example,direct").goproxy.endswith(",direct")


def test_ca_cert_must_be_pem(tmp_path):
    bad = tmp_path / "ca.der"
    bad.write_bytes(b"\x30\x82\x01\x0a")
    with pytest.raises(SettingsError, match="not a PEM certificate"):
        load_settings(ca_cert=bad)
    assert load_settings(ca_cert="/etc/ssl/certs/ca-certificates.crt").ca_cert is not None


def test_source_must_be_flamenco_shaped(tmp_path):
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.26\n")
    with pytest.raises(SettingsError, match="missing go.sum"):
        load_settings(source=tmp_path)
    assert load_settings(source=FIXTURE).source == FIXTURE


def test_conflicting_source_and_git_ref():
    with pytest.raises(SettingsError, match="conflicts with source"):
        load_settings(source=FIXTURE, git_ref="main")


@hsettings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["goproxy", "gosumdb", "goprivate", "runtime_image", "tag", "version", "git_ref",
                     "git_hash", "release_cycle", "platforms", "go_version", "goflags", "registry", "git_url"]),
    st.text(max_size=40),
    max_size=4,
))
def test_fuzzed_settings_only_ever_raise_the_clean_error(values):
    try:
        load_settings(**values)
    except SettingsError as e:
        assert "\n" not in str(e) and str(e).startswith("invalid setting ")


def test_image_reference_grammar():
    for ok in ("debian:bookworm-slim", "registry.example:5000/team/golang:1.26.2-bookworm",
               "golang@sha256:" + "a" * 64, "flamenco-pipeline-standin/node:22-bookworm-slim"):
        assert validate.image_ref(ok) == ok


def test_every_settings_field_is_documented():
    assert all(f.description for f in Settings.model_fields.values())


@pytest.mark.parametrize("value", ["ftp://mirror.example/", "https://user:pw@mirror.example/", " https://m.example/"])
def test_npm_registry_must_be_a_plain_http_url(value):
    with pytest.raises(SettingsError, match="npm_registry"):
        load_settings(npm_registry=value)


def test_npm_registry_reaches_the_web_deps_step_in_both_lanes():
    from pipeline.docker_lane.build import build_args
    from pipeline.core.source_facts import BuildStamp

    s = load_settings(npm_registry="https://npm.mirror.example/")
    assert build_args(s, BuildStamp("3.9", "abc1234", "beta"), "1.26.2")["NPM_REGISTRY"] == "https://npm.mirror.example/"
    from tests.conftest import make_pipeline
    from tests.querychain import exec_env

    web = make_pipeline(npm_registry="https://npm.mirror.example/").deps("web-deps")
    [(argv, env, _)] = [e for e in exec_env(web) if "yarn --cwd web/app install" in e[0][-1]]
    assert env["NPM_REGISTRY"] == "https://npm.mirror.example/"
