"""A member's API key in real clients: the OpenAI SDK (Bearer) and webuiapi (HTTP Basic, the
key as the password), with accounts on; a key lacking ``generate`` is refused in the SDK's
own error; jobs made with a key are in the member's job list."""

from __future__ import annotations

import openai
import pytest
import webuiapi
from openai import OpenAI

from tests.support.accounts import Browser, add_user, new_key, setup_admin


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from tests.support.server import ServerProcess

    proc = ServerProcess(tmp_path_factory.mktemp("accounts-clients"), "eventlet").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def member(srv):
    admin = setup_admin(srv, "root")
    add_user(admin, "kim")
    return Browser(srv).sign_in("kim")


def test_the_openai_sdk_generates_with_a_members_key(srv, member):
    _, secret = new_key(member, ["generate", "gallery:read"])
    client = OpenAI(base_url=srv.url + "/v1", api_key=secret, max_retries=0, timeout=60)
    [item] = client.images.generate(prompt="a lake at dawn", model="instant/test", response_format="b64_json").data
    assert item.b64_json
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=srv.url + "/v1", api_key="atl_wrong", max_retries=0).images.generate(prompt="x")
    _, reader = new_key(member, ["gallery:read"])
    with pytest.raises(openai.PermissionDeniedError):
        OpenAI(base_url=srv.url + "/v1", api_key=reader, max_retries=0).images.generate(prompt="x")


def test_webuiapi_uses_a_members_key_as_the_basic_password(srv, member):
    _, secret = new_key(member, ["generate"])
    api = webuiapi.WebUIApi(baseurl=srv.url + "/sdapi/v1")
    api.set_auth("kim", secret)
    assert isinstance(api.get_sd_models(), list) and api.util_get_model_names()
    refused = webuiapi.WebUIApi(baseurl=srv.url + "/sdapi/v1")
    refused.set_auth("kim", "atl_wrong")
    answer = refused.get_sd_models()  # webuiapi hands back the body of a refusal as it is
    assert isinstance(answer, dict) and answer["errors"].startswith("401")  # in A1111's error shape
